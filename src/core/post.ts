// One POST to a collector or a notification service, as the notify and sinks components send
// them: a timeout, no redirects (a redirect could carry a token elsewhere), the answer read so
// the connection is reused, and errors that name what was sending and the status or cause,
// never the URL (a Slack webhook's URL is its credential) or a header.

/** POSTs `body`; resolves with the answer's text on a 2xx, throws otherwise. */
export async function postTo(
  who: string,
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'user-agent': 'rampart', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (e) {
    // The original stays attached for debugging; only this message is ever recorded or logged.
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
    throw new Error(`${who}: no answer (${cause})`, { cause: e });
  }
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status > 299) throw new Error(`${who}: HTTP ${res.status}`);
  return text;
}
