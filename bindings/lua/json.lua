-- json.lua: opsrun.json, lua-cjson with an encode that leaves "/" as it is. Every file after this
-- one (emit's rows, `opsrun call`'s result) and every playbook's `json` use it; the host makes a
-- playbook's require "cjson" give it too (host/main.c).
local opsrun = ...
local cjson = opsrun.json

-- lua-cjson 2.1.0 writes "/" as "\/" and has no option against it, so `grep assumed-role/` found
-- nothing in a role ARN. In its output a backslash only ever starts an escape of two characters
-- (\\, \", \/, \n, ... or \u followed by four hex digits), so a scan by pairs from the left sees
-- every escape whole: "\\/" (a backslash, then a slash) is the pair "\\" and a plain "/".
local SLASH = { ["\\/"] = "/" }

local function encode(value)
  return (cjson.encode(value):gsub("\\.", SLASH))
end

local json = {}
for name, field in pairs(cjson) do json[name] = field end
json.encode = encode
opsrun.json = json
