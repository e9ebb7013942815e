import type { Duplex } from 'node:stream';
import { ERR_HTTP_HEADERS_TOO_LARGE } from './errors.js';

/**
 * Node's HTTP server 'clientError' event: the request could not be parsed, so no handler ran.
 * Headers over the server's maxHeaderSize (HPE_HEADER_OVERFLOW) get a real answer, 431 with our
 * JSON error body, so the client learns why instead of seeing a reset connection; anything else
 * (malformed request, reset, timeout while reading the head) closes the socket as before.
 */
export function clientErrorResponse(err: NodeJS.ErrnoException): string | null {
  if (err.code !== 'HPE_HEADER_OVERFLOW') return null;
  const body = JSON.stringify({
    error: { code: ERR_HTTP_HEADERS_TOO_LARGE, message: 'request headers are larger than the collector accepts' },
  });
  return (
    'HTTP/1.1 431 Request Header Fields Too Large\r\n' +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'cache-control: no-store\r\n' +
    'connection: close\r\n\r\n' +
    body
  );
}

/** The listener for server.on('clientError', ...). */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const answer = socket.writable ? clientErrorResponse(err) : null;
  if (answer === null) {
    socket.destroy();
    return;
  }
  socket.end(answer);
  // A client that never reads the answer must not hold the socket open.
  setTimeout(() => socket.destroy(), 2000).unref();
}
