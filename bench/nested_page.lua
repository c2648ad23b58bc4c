-- W1 for wrk: the nested page of 50 orders (bench/workloads/w1_courier.json),
-- through bench/graphql.lua. Run wrk from the repository's root, with the
-- bearer token in BENCH_TOKEN.
BENCH_DEFAULT_BODY_FILE = "bench/workloads/w1_courier.json"
dofile("bench/graphql.lua")
