-- wrk script: GET the status of random (chapter, scene) pairs of the file
-- named by BENCH_PAIRS ("chapter token scenes" per line), counting answers.

-- setup, response and done come from bench/common.lua, beside this script
-- (or in $BENCH_DIR when set).
dofile((os.getenv("BENCH_DIR") or
    debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")

local pairs_file = os.getenv("BENCH_PAIRS")
local list = {}

for line in io.lines(pairs_file) do
	local chapter, token, scenes = line:match("^(%S+)%s+(%S+)%s+(%d+)$")
	if chapter then
		list[#list + 1] = { chapter = chapter, token = token,
		    scenes = tonumber(scenes) }
	end
end

function init(args)
	status = {}
	math.randomseed(id * 104729 + os.time())
end

function request()
	local p = list[math.random(#list)]
	local scene = math.random(p.scenes)
	return wrk.format("GET",
	    "/api/v1/chapters/" .. p.chapter .. "/images/scenes/" .. scene .. "/status",
	    { ["Authorization"] = "Bearer " .. p.token })
end
