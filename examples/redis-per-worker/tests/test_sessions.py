def test_a_session_round_trip(redis, worker):
    key = "session:%s" % worker
    redis.call("HSET", key, "user", "ada", "role", "admin")
    assert redis.call("HGET", key, "user") == "ada"
    assert redis.call("HLEN", key) == 2


def test_only_this_workers_keys(redis, worker):
    # Every test writes under its own worker's name: a server shared by two workers would
    # show the other's keys here.
    redis.call("SET", "seen:%s" % worker, "1")
    owners = {k.split(":", 1)[1] for k in redis.call("KEYS", "seen:*")}
    assert owners == {worker}
