"""The file enricher's table is read once and published whole: a second thread looking a
person up while the first is still reading the file finds them (a daily run's lanes share
one enricher)."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

import pytest

from tools.enrichment import base
from tools.enrichment.base import FileEnricher


def test_lookup_during_the_first_read_finds_the_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "enrichment.csv"
    path.write_text(
        "first_name,last_name,company_domain,email\n"
        "Ada,Lovelace,example.com,ada@example.com\n"
        "Alan,Turing,example.org,alan@example.org\n",
        encoding="utf-8",
    )
    reading, release = threading.Event(), threading.Event()
    real = csv.DictReader

    def slow_reader(fh: Any) -> Any:  # the first reader pauses after its first row
        for i, row in enumerate(real(fh)):
            yield row
            if i == 0 and not reading.is_set():
                reading.set()
                release.wait(5)

    monkeypatch.setattr(base.csv, "DictReader", slow_reader)
    enricher = FileEnricher(path)
    first = threading.Thread(target=lambda: enricher.enrich("Ada", "Lovelace", "example.com"))
    first.start()
    assert reading.wait(5)
    try:
        found = enricher.enrich("Alan", "Turing", "example.org")  # the row not read yet
    finally:
        release.set()
        first.join()
    assert found.email == "alan@example.org"
