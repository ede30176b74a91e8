#!/usr/bin/env node
// parse.js checks the syntax of Bicep files offline: no Bicep compiler is
// reachable here, so it parses each file with the tree-sitter-bicep grammar
// (its shipped .wasm, run by web-tree-sitter; no native build, no network)
// and reports every ERROR or MISSING node as file:line:col.
//
// Usage: node parse.js PATH...   (a PATH may be a file or a directory; in a
// directory every *.bicep and *.bicepparam file is checked, node_modules
// skipped).
//
// Exit status: 0 all files parse; 1 a syntax error was found; 2 usage or
// setup error (no files, grammar missing, unreadable file).
//
// Limits: syntax only. Types, property names, API versions, symbol references
// and decorators' arguments are not checked (that needs `az bicep build`).
// The grammar (tree-sitter-bicep 1.1.0) predates the `extension` keyword and
// the spread operator `...`, so the templates avoid both. It also has no rule
// for a .bicepparam assignment (`param name = value`, no type): such lines are
// parsed as `var  name = value` (same length, so positions stay exact); the
// value expression is still fully checked.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { Parser, Language } = require('web-tree-sitter');

const EXTENSIONS = new Set(['.bicep', '.bicepparam']);

function collect(p, out) {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(p).sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      collect(path.join(p, name), out);
    }
  } else if (EXTENSIONS.has(path.extname(p))) {
    out.push(p);
  }
}

// problems walks the tree and returns one entry per ERROR or MISSING node.
// A MISSING node is zero-width: tree-sitter inserted the token it expected.
function problems(root, source) {
  const found = [];
  const cursor = root.walk();
  let done = false;
  while (!done) {
    const n = cursor.currentNode;
    if (n.isMissing) {
      found.push({ pos: n.startPosition, msg: `missing ${n.type}` });
    } else if (n.type === 'ERROR') {
      // Quote the original source: the rewrite keeps offsets, not text.
      const text = source.slice(n.startIndex, n.endIndex).split('\n')[0].slice(0, 60);
      found.push({ pos: n.startPosition, msg: `syntax error near ${JSON.stringify(text)}` });
    }
    // Descend only into subtrees that contain an error.
    if (n.hasError && cursor.gotoFirstChild()) continue;
    while (!cursor.gotoNextSibling()) {
      if (!cursor.gotoParent()) {
        done = true;
        break;
      }
    }
  }
  return found;
}

// asParsable rewrites the .bicepparam-only statement form `param NAME = EXPR`
// into `var  NAME = EXPR`, keeping every offset, because the grammar requires
// a type after a parameter name.
function asParsable(file, text) {
  if (path.extname(file) !== '.bicepparam') return text;
  return text.replace(/^(\s*)param(\s+[A-Za-z_][A-Za-z0-9_]*\s*=)/gm, '$1var  $2');
}

async function main(args) {
  if (args.length === 0) {
    console.error('usage: node parse.js PATH...');
    return 2;
  }
  const files = [];
  for (const a of args) {
    try {
      collect(a, files);
    } catch (err) {
      console.error(`parse.js: ${a}: ${err.message}`);
      return 2;
    }
  }
  if (files.length === 0) {
    console.error(`parse.js: no .bicep or .bicepparam files under ${args.join(' ')}`);
    return 2;
  }
  await Parser.init();
  const wasm = require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm');
  const parser = new Parser();
  parser.setLanguage(await Language.load(wasm));

  let bad = 0;
  for (const f of files) {
    const source = fs.readFileSync(f, 'utf8');
    const tree = parser.parse(asParsable(f, source));
    if (!tree.rootNode.hasError) continue;
    const found = problems(tree.rootNode, source);
    if (found.length === 0) {
      // hasError with no node located: still a failure, never a pass.
      found.push({ pos: { row: 0, column: 0 }, msg: 'syntax error (not located)' });
    }
    for (const p of found) {
      console.log(`${f}:${p.pos.row + 1}:${p.pos.column + 1}: ${p.msg}`);
    }
    bad++;
  }
  console.log(`parse.js: ${files.length} file(s) checked, ${bad} with syntax errors`);
  return bad > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`parse.js: ${err.stack || err}`);
    process.exit(2);
  },
);
