#!/usr/bin/env lua
local f = assert(io.open(arg[1]))
local n = 0
for line in f:lines() do if line:find('"name"') then n = n + 1 end end
print(("users: %d"):format(n))
