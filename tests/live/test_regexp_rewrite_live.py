"""Rules whose regexp Lucene cannot determinize as written fire on OpenSearch exactly where the Sigma regexp
matches, through the equivalent the backends write (backends/regexp_rewrite.py).

For the three SigmaHQ regexps concerned, documents made of the pieces that matter (and the border cases) go
into a keyword field; es_lucene (query_string, `lenient: false`) and es_dsl (`regexp`) must find exactly the
ones in which Python's `re.search` finds the Sigma regexp.
"""

from __future__ import annotations

import json
import random
import re

import pytest
import yaml
from opensearchpy import OpenSearch, helpers
from sigma.processing.pipeline import ProcessingPipeline

from tests.conftest import convert, inline_rule
from tests.live.conftest import lucene_ids, search_ids
from tests.unit.test_regexp_rewrite import DTRACK, LONG_LINE, PIECES, WSASS

BORDERS = {
    WSASS: ['wsass.exe "C:\\x\\WerFaultSecure.exe" 1234', "wsass.exe  C:\\x\\WerFaultSecure.exe 12",
            "a.exe b.exe x werfaultsecure.exe 12", "a.exe " + "x" * 64 + "werfaultsecure.exe 12",
            "a.exe " + "x" * 65 + "werfaultsecure.exe 12", "a.exe " + "x" * 60 + " b.exe werfaultsecure.exe 12"],
    DTRACK: ["ping -n" + "x" * 5 + "echo EEEE>", "ping -n" + "x" * 6 + "echo EEEE>", "ping -n" + "x" * 64 + "echo EEEE >",
             "ping -n" + "x" * 65 + "echo EEEE >", "ping -n 1 ping -n 2 echo EEEE > x", "ping -n\n123456echo EEEE>"],
    LONG_LINE: ["a" * 999, "a" * 1000, "a" * 999 + "\n" + "a" * 999, "\n" + "a" * 1000 + "\n"],
}


def values(sigma_regexp: str) -> list[str]:
    pieces = PIECES[sigma_regexp]
    rng = random.Random(sigma_regexp)
    drawn = ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40))) for _ in range(300)]
    return list(dict.fromkeys(BORDERS[sigma_regexp] + drawn))


@pytest.mark.parametrize("sigma_regexp", [WSASS, DTRACK, LONG_LINE], ids=["wsass", "dtrack", "long_line"])
def test_rewritten_regexp_fires_exactly_where_the_sigma_regexp_matches(opensearch: OpenSearch, live_index_name,
                                                                       sigma_regexp: str) -> None:
    index = live_index_name("rewrite")
    opensearch.indices.create(index=index, body={"mappings": {"properties": {"f": {"type": "keyword"}}}})
    try:
        docs = values(sigma_regexp)
        helpers.bulk(opensearch, ({"_index": index, "_id": str(i), "f": value} for i, value in enumerate(docs)),
                     refresh=True)
        expected = {str(i) for i, value in enumerate(docs) if re.search(sigma_regexp, value)}
        assert expected and len(expected) < len(docs), "the documents must hold matches and misses"
        rule = inline_rule(yaml.safe_load(f"f|re: '{sigma_regexp.replace(chr(39), chr(39) * 2)}'"))
        (lucene_query,) = convert(rule, "es_lucene", pipeline=ProcessingPipeline())
        assert "&" in lucene_query or "{1000}" in lucene_query  # the rewrite, not the original
        assert lucene_ids(opensearch, index, lucene_query) == expected
        (dsl_query,) = convert(rule, "es_dsl", pipeline=ProcessingPipeline())
        assert search_ids(opensearch, index, {"query": json.loads(dsl_query)["query"]}) == expected
    finally:
        opensearch.indices.delete(index=index, ignore_unavailable=True)
