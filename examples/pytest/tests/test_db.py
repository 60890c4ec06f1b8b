import os
import sqlite3

import pytest


@pytest.mark.serial
def test_database_per_worker():
    path = os.environ.get("DATABASE_PATH", ":memory:")
    db = sqlite3.connect(path)
    db.execute("create table if not exists t (x)")
    db.execute("insert into t values (1)")
    assert db.execute("select count(*) from t").fetchone()[0] >= 1
