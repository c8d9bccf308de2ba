-- wrk script: POST scene requests, rotating over the (chapter, token) pairs
-- of the file named by BENCH_PAIRS, and count answers by status.
local pairs_file = os.getenv("BENCH_PAIRS")
local body = '{"scene_description": "A young wizard discovering magic", ' ..
    '"style": "cinematic", "aspect_ratio": "16:9"}'
local threads = {}
local list = {}

for line in io.lines(pairs_file) do
	local chapter, token = line:match("^(%S+)%s+(%S+)$")
	if chapter then
		list[#list + 1] = { chapter = chapter, token = token }
	end
end

function setup(thread)
	thread:set("id", #threads)
	table.insert(threads, thread)
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
