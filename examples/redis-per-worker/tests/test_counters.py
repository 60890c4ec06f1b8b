def test_incr_counts_from_one(redis, worker):
    key = "counter:%s" % worker
    redis.call("DEL", key)
    assert redis.call("INCR", key) == 1
    assert redis.call("INCR", key) == 2


def test_expiring_keys(redis, worker):
    key = "ttl:%s" % worker
    redis.call("SET", key, "x", "EX", 60)
    assert 0 < redis.call("TTL", key) <= 60
