// Reading Server-Sent Events as they arrive: text in, each message's data out. What the CLI's
// `rampart events --follow` and `rampart drill` read from GET /v1/events/stream.

/** A function to feed the stream's text to; `onData` gets each message's data (comments skipped). */
export function sseReader(onData: (data: string) => void): (text: string) => void {
  let buffer = '';
  return (text) => {
    buffer += text;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = message
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (data !== '') onData(data);
    }
  };
}
