def test_a_queue_is_first_in_first_out(redis, worker):
    key = "queue:%s" % worker
    redis.call("DEL", key)
    for job in ("a", "b", "c"):
        redis.call("RPUSH", key, job)
    assert [redis.call("LPOP", key) for _ in range(3)] == ["a", "b", "c"]


def test_the_server_is_this_workers(redis, worker):
    # The server ptest started for this worker, and the same one for all its tests.
    info = dict(
        line.split(":", 1)
        for line in redis.call("INFO", "server").splitlines()
        if ":" in line
    )
    key = "run_id:%s" % worker
    redis.call("SETNX", key, info["run_id"])
    assert redis.call("GET", key) == info["run_id"]
