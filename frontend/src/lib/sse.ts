/**
 * Server-Sent Events read from a fetch body (EventSource cannot send the Authorization
 * header): the job stream's ``status``, ``progress`` and ``end`` events.
 */

export interface SseEvent {
  event: string;
  data: string;
}

/** The complete events in ``buffer`` and the incomplete rest to keep for the next chunk. */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const normalized = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop() ?? "";
  const events: SseEvent[] = [];
  for (const block of blocks) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length > 0 || event !== "message") events.push({ event, data: data.join("\n") });
  }
  return { events, rest };
}

/** Reads ``url`` as an event stream until it ends or ``signal`` aborts; each event to ``onEvent``. */
export async function readEventStream(url: string, headers: Record<string, string>, signal: AbortSignal,
  onEvent: (event: SseEvent) => void): Promise<void> {
  const response = await fetch(url, { headers: { ...headers, Accept: "text/event-stream" }, signal });
  if (!response.ok || !response.body) throw new Error(`stream: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const parsed = parseSse(buffer + value);
    buffer = parsed.rest;
    parsed.events.forEach(onEvent);
  }
}
