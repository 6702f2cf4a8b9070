#!/usr/bin/env node
const ms = require("ms");
console.log(ms(60000));
