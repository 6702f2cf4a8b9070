'use strict';
// Preloaded (node -r) into the processes the parse benchmark runs for CPU time: writes the
// process's CPU time, user and system over all its threads since exec, to standard error as
// it exits. Other load on a shared machine stretches wall time far more than CPU time.
process.on('exit', () => {
  const { user, system } = process.cpuUsage();
  process.stderr.write(`\ncpu-microseconds ${user + system}\n`);
});
