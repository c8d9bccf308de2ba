-- wrk script: GET the status of random (chapter, scene) pairs of the file
-- named by BENCH_PAIRS ("chapter token scenes" per line), counting answers.
local pairs_file = os.getenv("BENCH_PAIRS")
local threads = {}
local list = {}

for line in io.lines(pairs_file) do
	local chapter, token, scenes = line:match("^(%S+)%s+(%S+)%s+(%d+)$")
	if chapter then
		list[#list + 1] = { chapter = chapter, token = token,
		    scenes = tonumber(scenes) }
	end
end

function setup(thread)
	thread:set("id", #threads)
	table.insert(threads, thread)
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

function response(code, headers, resp_body)
	status[code] = (status[code] or 0) + 1
end

function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		for code, count in pairs(t:get("status")) do
			total[code] = (total[code] or 0) + count
		end
	end
	local parts = {}
	for code, count in pairs(total) do
		parts[#parts + 1] = code .. "=" .. count
	end
	io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d status=%s\n",
	    summary.requests, summary.duration, latency:percentile(50),
	    latency:percentile(99),
	    summary.errors.connect + summary.errors.read + summary.errors.write +
	    summary.errors.timeout, table.concat(parts, ",")))
end
