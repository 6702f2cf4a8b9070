/**
 * The reference's syntax-tree dump (`Node.Dump()`), one line per instruction, so that the tree
 * can be compared with the reference's byte for byte (see the corpus README for the format).
 */
import { goQuote } from '../common/index.js';
import type { InstructionNode, SyntaxTree } from './ast.js';

function dumpNode(node: InstructionNode): string {
  let text = node.keyword.value.toLowerCase();
  if (node.flags.length > 0) text += ` [${node.flags.map((f) => goQuote(f.text)).join(' ')}]`;
  if (node.trigger !== undefined) text += ` (${dumpNode(node.trigger)})`;
  for (const arg of node.args) text += ` ${goQuote(arg.value)}`;
  return text.trim();
}

export function dumpSyntaxTree(tree: SyntaxTree): string {
  return tree.instructions.map((node) => `(${dumpNode(node)})\n`).join('');
}
