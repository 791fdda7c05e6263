/** Progress on stderr: a spinner with the elapsed time while one long request runs (only on a TTY). */

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface Spinner {
  stop: () => void;
}

export function spinner(stream: NodeJS.WriteStream, label: string): Spinner {
  if (!stream.isTTY) return { stop: () => {} };
  const started = Date.now();
  let frame = 0;
  const draw = () => {
    const elapsed = ((Date.now() - started) / 1000).toFixed(1);
    stream.write(`\r\x1b[K${FRAMES[frame++ % FRAMES.length]} ${label} ${elapsed}s`);
  };
  draw();
  const timer = setInterval(draw, 100);
  return {
    stop: () => {
      clearInterval(timer);
      stream.write("\r\x1b[K");
    },
  };
}
