export {
  envFromList,
  expandWord,
  processWord,
  processWords,
  type EscapeToken,
  type ExpansionResult,
  type ShellEnv,
  type ShellOptions,
} from './lex.js';
export { goQuote } from './quote.js';
