-- wrk script: POST scene requests, rotating over the (chapter, token) pairs
-- of the file named by BENCH_PAIRS, and count answers by status.

-- setup, response and done come from bench/common.lua, beside this script
-- (or in $BENCH_DIR when set).
dofile((os.getenv("BENCH_DIR") or
    debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")

local pairs_file = os.getenv("BENCH_PAIRS")
local body = '{"scene_description": "A young wizard discovering magic", ' ..
    '"style": "cinematic", "aspect_ratio": "16:9"}'
local list = {}

for line in io.lines(pairs_file) do
	local chapter, token = line:match("^(%S+)%s+(%S+)$")
	if chapter then
		list[#list + 1] = { chapter = chapter, token = token }
	end
end

function init(args)
	n = 0
	status = {}
	offset = id * 7919
end

function request()
	n = n + 1
	local p = list[((n + offset) % #list) + 1]
	local scene = (n % 10000) + 1
	return wrk.format("POST",
	    "/api/v1/chapters/" .. p.chapter .. "/images/scenes/" .. scene,
	    { ["Authorization"] = "Bearer " .. p.token,
	      ["Content-Type"] = "application/json" }, body)
end
