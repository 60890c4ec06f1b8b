import pytest


@pytest.mark.parametrize("n", range(5))
def test_square_is_not_negative(n):
    assert n * n >= 0
