def test_upper():
    assert "ptest".upper() == "PTEST"


def test_split():
    assert "a b c".split() == ["a", "b", "c"]
