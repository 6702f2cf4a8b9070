import { registerCommands } from '../program.js';

// Each command lives in its own file, registered here by name and imported only when run.
registerCommands({
  build: async () => (await import('./build.js')).registerBuild,
  debug: async () => (await import('./debug.js')).registerDebug,
  pull: async () => (await import('./pull.js')).registerPull,
  push: async () => (await import('./push.js')).registerPush,
  login: async () => (await import('./login.js')).registerLogin,
  logout: async () => (await import('./logout.js')).registerLogout,
  images: async () => (await import('./images.js')).registerImages,
  tag: async () => (await import('./tag.js')).registerTag,
  rmi: async () => (await import('./rmi.js')).registerRmi,
  inspect: async () => (await import('./inspect.js')).registerInspect,
  save: async () => (await import('./save.js')).registerSave,
  load: async () => (await import('./load.js')).registerLoad,
  image: async () => (await import('./image.js')).registerImage,
  verify: async () => (await import('./verify.js')).registerVerify,
  doctor: async () => (await import('./doctor.js')).registerDoctor,
  run: async () => (await import('./run.js')).registerRun,
  network: async () => (await import('./network.js')).registerNetwork,
});
