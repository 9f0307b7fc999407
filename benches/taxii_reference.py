"""The reference Python stack reading a TAXII collection: taxii2-client paging, and
stix2-patterns parsing each pattern (or not). Prints `count seconds` on one line.

Usage: python taxii_reference.py COLLECTION_URL MAX_INDICATORS parse|noparse
"""

import sys
import time

from stix2patterns.v21.pattern import Pattern
from taxii2client.v21 import Collection, as_pages

url, limit, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
collection = Collection(url)
count = 0
started = time.perf_counter()
for envelope in as_pages(collection.get_objects, per_request=1000, type="indicator"):
    for obj in envelope.get("objects", []):
        if mode == "parse":
            Pattern(obj["pattern"])
        count += 1
    if count >= limit:
        break
print(count, time.perf_counter() - started)
