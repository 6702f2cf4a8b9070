import { registerCommands } from '../program.js';
import { registerImage } from './image.js';
import { registerImages } from './images.js';
import { registerInspect } from './inspect.js';
import { registerLoad } from './load.js';
import { registerRmi } from './rmi.js';
import { registerSave } from './save.js';
import { registerTag } from './tag.js';
import { registerVerify } from './verify.js';
import { registerDebug } from './debug.js';
import { registerLogin } from './login.js';
import { registerLogout } from './logout.js';
import { registerPull } from './pull.js';
import { registerPush } from './push.js';

// Each command lives in its own file and registers itself here.
registerCommands(registerDebug, registerPull, registerPush, registerLogin, registerLogout, registerImages, registerTag, registerRmi, registerInspect, registerSave, registerLoad, registerImage, registerVerify);
