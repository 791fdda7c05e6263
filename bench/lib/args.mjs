// Command-line options of the bench scripts: `--name=value` options and `--name` flags.
const argv = process.argv.slice(2);

export const flag = (name) => argv.includes(`--${name}`);

export const opt = (name, dflt) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
};
