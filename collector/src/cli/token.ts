import { UserError, isNodesealError, ERR_USAGE } from '../../../shared/src/errors.js';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { AuthStore } from '../auth/store.js';
import { createApiToken } from '../auth/create-token.js';
import { ERR_AUTH_TOKEN_EXISTS, ERR_AUTH_TOKEN_INPUT, ERR_AUTH_TOKEN_UNKNOWN } from '../auth/errors.js';
import type { Role } from '../http/router.js';
import { table } from './client.js';
import { cliActor, dbTarget, withLocalStore } from './local-db.js';

const usage = `nodeseal collector token create --role viewer|scheduler|operator --name NAME [--reason TEXT] [--db PATH] [--json]
       nodeseal collector token list [--db PATH] [--json]
       nodeseal collector token revoke NAME --reason TEXT [--db PATH] [--json]
  Works on the collector's database directly (--db: SQLite file or postgres:// URL; default env NODESEAL_DB,
  then /var/lib/nodeseal/collector.db). The token is printed once; only its SHA-256 is stored.
  Roles: viewer (read) < scheduler (trust, fresh attestation) < operator (approve, revoke, enrol, tokens).`;

const verb: Verb = {
  summary: 'Create, list or revoke collector API tokens (stored hashed; printed once).',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { role: { type: 'string' }, name: { type: 'string' }, reason: { type: 'string' }, db: { type: 'string' }, json: { type: 'boolean' } },
      true,
    );
    const [action, ...rest] = positionals;
    const target = dbTarget(values.db, io);
    if (action === 'create') {
      if (rest.length) throw new UserError(ERR_USAGE, `unexpected argument ${rest[0]}`);
      if (!values.role) throw new UserError(ERR_USAGE, '--role is required (viewer, scheduler or operator)');
      if (!values.name) throw new UserError(ERR_USAGE, '--name is required');
      const created = await withLocalStore(target, async (store) => {
        try {
          return await createApiToken(new AuthStore(store.db), {
            name: values.name!,
            role: values.role as Role,
            actor: cliActor(io),
            reason: values.reason ?? 'created with nodeseal collector token create',
            now: new Date(),
          });
        } catch (e) {
          if (isNodesealError(e) && (e.code === ERR_AUTH_TOKEN_INPUT || e.code === ERR_AUTH_TOKEN_EXISTS))
            throw new UserError(e.code, e.message);
          throw e;
        }
      });
      if (values.json) io.stdout(`${JSON.stringify(created)}\n`);
      else {
        io.stdout(`${created.token}\n`);
        io.stderr(`token ${created.name} (${created.role}) created; it is shown only this once\n`);
      }
      return 0;
    }
    if (action === 'list') {
      const tokens = await withLocalStore(target, (store) => new AuthStore(store.db).listTokens());
      const rows = tokens.map((t) => ({
        name: t.name,
        role: t.role,
        createdAt: t.createdAt,
        createdBy: t.createdBy,
        revokedAt: t.revokedAt,
        lastUsedAt: t.lastUsedAt,
      }));
      if (values.json) io.stdout(`${JSON.stringify({ tokens: rows })}\n`);
      else if (rows.length === 0) io.stdout('no API tokens (create one: nodeseal collector token create --role ROLE --name NAME)\n');
      else
        io.stdout(
          table(
            ['NAME', 'ROLE', 'STATE', 'CREATED', 'CREATED BY', 'LAST USED'],
            rows.map((t) => [
              t.name,
              t.role,
              t.revokedAt ? `revoked ${t.revokedAt}` : 'active',
              t.createdAt,
              t.createdBy,
              t.lastUsedAt ?? 'never',
            ]),
            80,
          ),
        );
      return 0;
    }
    if (action === 'revoke') {
      const name = rest[0];
      if (!name || rest.length > 1) throw new UserError(ERR_USAGE, 'revoke takes one token NAME');
      const reason = values.reason?.trim();
      if (!reason) throw new UserError(ERR_USAGE, '--reason is required (it is recorded in the audit log)');
      const ok = await withLocalStore(target, (store) =>
        new AuthStore(store.db).revokeToken(name, cliActor(io), reason, new Date().toISOString()),
      );
      if (!ok) throw new UserError(ERR_AUTH_TOKEN_UNKNOWN, `no live token named ${name}`);
      io.stdout(values.json ? `${JSON.stringify({ name, revoked: true })}\n` : `token ${name} revoked\n`);
      return 0;
    }
    throw new UserError(ERR_USAGE, `expected create, list or revoke, not ${action ?? 'nothing'}`);
  },
};
export default verb;
