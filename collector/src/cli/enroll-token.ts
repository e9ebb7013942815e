import { UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import { EnrollError } from '../enroll/errors.js';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { createEnrollToken } from '../enroll/create-token.js';
import { EnrollStore } from '../enroll/store.js';
import { cliActor, dbTarget, withLocalStore } from './local-db.js';

const usage = `nodeseal collector enroll-token create [--nodes GLOB] [--ttl 1h] [--uses 1] [--reason TEXT] [--db PATH] [--json]
       nodeseal collector enroll-token list [--db PATH] [--json]
  --nodes  node names the token may enrol: * and ? wildcards, alternatives separated by commas (default *)
  --ttl    lifetime: 90s, 15m, 1h, 7d (default 1h, at most 30d)
  --uses   how many enrolments it allows (default 1)
  The token is printed once; only its SHA-256 is stored. Give it to the agent: nodeseal agent --enroll-token T.`;

const verb: Verb = {
  summary: 'Create or list one-time enrolment tokens for new nodes (stored hashed; printed once).',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        nodes: { type: 'string' },
        ttl: { type: 'string' },
        uses: { type: 'string' },
        reason: { type: 'string' },
        db: { type: 'string' },
        json: { type: 'boolean' },
      },
      true,
    );
    const [action, ...rest] = positionals;
    if (rest.length) throw new UserError(ERR_USAGE, `unexpected argument ${rest[0]}`);
    const target = dbTarget(values.db, io);
    if (action === 'create') {
      const created = await withLocalStore(target, async (store) => {
        try {
          return await createEnrollToken(new EnrollStore(store.db), {
            nodes: values.nodes ?? '*',
            ttl: values.ttl ?? '1h',
            uses: values.uses ?? '1',
            actor: cliActor(io),
            reason: values.reason ?? 'created with nodeseal collector enroll-token create',
            now: new Date(),
          });
        } catch (e) {
          if (e instanceof EnrollError) throw new UserError(e.code, e.message);
          throw e;
        }
      });
      if (values.json) io.stdout(`${JSON.stringify(created)}\n`);
      else {
        io.stdout(`${created.token}\n`);
        io.stderr(
          `enrolment token ${created.tokenId} for nodes ${created.nodes}, ${created.uses} use(s), expires ${created.expiresAt}; shown only this once\n`,
        );
      }
      return 0;
    }
    if (action === 'list') {
      const tokens = await withLocalStore(target, (store) => new EnrollStore(store.db).listTokens());
      const rows = tokens.map((t) => ({
        tokenId: t.tokenId,
        nodes: t.nodeGlob,
        expiresAt: t.expiresAt,
        usesLeft: t.usesLeft,
        maxUses: t.maxUses,
        createdBy: t.createdBy,
        revokedAt: t.revokedAt,
      }));
      if (values.json) io.stdout(`${JSON.stringify({ enrollTokens: rows })}\n`);
      else
        for (const t of rows)
          io.stdout(
            `${t.tokenId}\t${t.nodes}\t${t.usesLeft}/${t.maxUses} left\texpires ${t.expiresAt}${t.revokedAt ? `\trevoked ${t.revokedAt}` : ''}\n`,
          );
      return 0;
    }
    throw new UserError(ERR_USAGE, `expected create or list, not ${action ?? 'nothing'}`);
  },
};
export default verb;
