#!/usr/bin/env node
// The compiled, bundled CLI lives in dist/ (built by `npm ci` through the prepare script).
import '../dist/cli-bundle/bin.js';
