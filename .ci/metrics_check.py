"""Metrics check: the file `--metrics-file` writes, read by Prometheus' own parsers.

The real binary runs a Lumu job against `apex-ioc-sync simulate` (loopback): a first push,
then a run the Lumu server fails (exit 1). After each, the file is parsed with
prometheus_client.parser.text_string_to_metric_families (Prometheus' Python client, the
text format 0.0.4) and its values checked; then, when given, node_exporter's textfile
collector serves the folder (it must read the file without a scrape error, and the
values must come through), and promtool lints the file (`promtool check metrics`).

Usage: python metrics_check.py PATH/TO/apex-ioc-sync [--node-exporter PATH] [--promtool PATH]
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

JOB = {"tag": "lumu", "source": "lumu", "sink": "apex"}


def fail(message):
    print(f"metrics check FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def parse(text, where):
    """Every sample as {(name, frozenset of its own labels): value}, each family a gauge
    whose samples carry the job's labels."""
    samples = {}
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others on bad input
        fail(f"{where} does not parse: {e}\n{text}")
    for family in families:
        if not family.name.startswith("apex_ioc_sync_"):
            continue
        if family.type != "gauge":
            fail(f"{where}: {family.name} is a {family.type}, not a gauge")
        if not family.documentation:
            fail(f"{where}: {family.name} has no HELP")
        for s in family.samples:
            labels = dict(s.labels)
            for k, v in JOB.items():
                if labels.pop(k, None) != v:
                    fail(f"{where}: {s.name} {s.labels} lacks {k}={v}")
            labels.pop("instance", None)
            labels.pop("job", None)
            samples[(s.name, frozenset(labels.items()))] = s.value
    if not samples:
        fail(f"{where} holds no apex_ioc_sync_ sample:\n{text}")
    return samples


def get(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    if key not in samples:
        fail(f"no {name} {labels} in {sorted(k[0] for k in samples)}")
    return samples[key]


def run(binary, args, cwd, expect):
    out = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if out.returncode != expect:
        fail(f"{' '.join(args)} exited {out.returncode}, not {expect}: {out.stderr}")


def check_with_tools(a, textfile, text, expected, exporters):
    """promtool lints `text`; node_exporter serves `textfile` (the folder holding it) with
    no scrape error and the values `expected`."""
    if a.promtool:
        lint = subprocess.run([a.promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        if lint.returncode != 0:
            fail(f"promtool check metrics: {lint.stdout}{lint.stderr}")
        print("  promtool check metrics: no problem")
    if not a.node_exporter:
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exporter = subprocess.Popen(
        [a.node_exporter, "--collector.disable-defaults", "--collector.textfile",
         f"--collector.textfile.directory={textfile}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    exporters.append(exporter)
    scraped = None
    for _ in range(100):
        try:
            scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            break
        except OSError:
            if exporter.poll() is not None:
                fail(f"node_exporter ended: {exporter.stderr.read()}")
            time.sleep(0.1)
    exporter.terminate()
    exporter.wait()
    if scraped is None:
        fail("node_exporter did not answer")
    errors = [f for f in text_string_to_metric_families(scraped) if f.name == "node_textfile_scrape_error"]
    if not errors or errors[0].samples[0].value != 0:
        fail(f"node_exporter could not read the file: {[e.samples for e in errors]}")
    served = parse(scraped, "node_exporter's /metrics")
    if served != expected:
        fail(f"node_exporter served other values: {set(served.items()) ^ set(expected.items())}")
    print(f"  node_exporter's textfile collector: read without error, {len(served)} samples served as written")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--node-exporter")
    ap.add_argument("--promtool")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)

    exporters = []
    work = tempfile.mkdtemp(prefix="metrics-check-")
    sim = subprocess.Popen([binary, "simulate"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = []
        for line in sim.stdout:
            banner.append(line)
            if "Press Ctrl-C" in line:
                break
        options = dict(re.findall(r"^  (host|application-id|api-key|lumu-url|company-key)=(\S+)$", "".join(banner), re.M))
        if len(options) != 5:
            fail(f"simulate's banner lacks the options: {''.join(banner)}")
        textfile = os.path.join(work, "textfile")
        os.mkdir(textfile)
        prom = os.path.join(textfile, "apex-ioc-sync-lumu.prom")
        config = os.path.join(work, "lumu.config")
        with open(config, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in options.items())
            f.write("ioc-types=ip,domain,url,hash\n")
            f.write(f"metrics-file={prom}\n")
        os.chmod(config, 0o600)

        before = time.time()
        run(binary, ["--config", config], work, 0)
        with open(prom) as f:
            first = parse(f.read(), "the first run's file")
        ended = get(first, "apex_ioc_sync_last_run_timestamp_seconds")
        if not before <= ended <= time.time():
            fail(f"last_run_timestamp_seconds {ended} is not the run's end")
        if get(first, "apex_ioc_sync_last_run_exit_code") != 0:
            fail("the first run's exit code is not 0")
        if get(first, "apex_ioc_sync_last_success_timestamp_seconds") != ended:
            fail("a successful run did not move last_success_timestamp_seconds")
        added = get(first, "apex_ioc_sync_plan_entries", action="add")
        if added < 1 or get(first, "apex_ioc_sync_writes", action="put", result="done") != added:
            fail(f"{added} adds planned, not all written")
        desired = sum(get(first, "apex_ioc_sync_desired_iocs", type=t) for t in ("ip", "domain", "url", "file_sha1"))
        if desired != added:
            fail(f"{desired} desired IOCs, {added} added on an empty list")
        if get(first, "apex_ioc_sync_capacity_headroom_ratio", type="ip") != 1:
            fail("the headroom of an empty list (before the first push) is not 1")
        print(f"first run: {len(first)} samples parsed, {int(added)} added, exit 0")

        # Unchanged: nothing written; the pushed entries are listed, owned and take room.
        run(binary, ["--config", config], work, 0)
        with open(prom) as f:
            text = f.read()
        second = parse(text, "the second run's file")
        if get(second, "apex_ioc_sync_plan_entries", action="unchanged") != added:
            fail("the second run is not unchanged")
        if get(second, "apex_ioc_sync_writes", action="put", result="done") != 0:
            fail("an unchanged run wrote")
        owned = sum(get(second, "apex_ioc_sync_owned_entries", type=t) for t in ("ip", "domain", "url", "file_sha1"))
        if owned != added:
            fail(f"{owned} owned entries listed after {added} adds")
        ips = get(second, "apex_ioc_sync_listed_entries", type="ip")
        if get(second, "apex_ioc_sync_capacity_headroom_ratio", type="ip") != (10000 - ips) / 10000:
            fail("the headroom is not (capacity - listed) / capacity")
        ended = get(second, "apex_ioc_sync_last_success_timestamp_seconds")
        print(f"second run: {len(second)} samples parsed, unchanged, {int(owned)} owned entries")
        check_with_tools(a, textfile, text, second, exporters)

        # The Lumu server refuses the key: exit 1, the last success kept.
        run(binary, ["--config", config, "--company-key", "wrong-key"], work, 1)
        with open(prom) as f:
            text = f.read()
        failed = parse(text, "the failed run's file")
        if get(failed, "apex_ioc_sync_last_run_exit_code") != 1:
            fail("the failed run's exit code is not 1")
        if get(failed, "apex_ioc_sync_last_success_timestamp_seconds") != ended:
            fail("a failed run moved last_success_timestamp_seconds")
        if any(name == "apex_ioc_sync_plan_entries" for name, _ in failed):
            fail("a run whose source failed has plan counts")
        if os.listdir(textfile) != ["apex-ioc-sync-lumu.prom"]:
            fail(f"left beside the file: {os.listdir(textfile)}")
        print(f"failed run: {len(failed)} samples parsed, exit 1, last success kept")
        check_with_tools(a, textfile, text, failed, exporters)

    finally:
        sim.terminate()
        sim.wait()
        shutil.rmtree(work, ignore_errors=True)
        for exporter in exporters:
            if exporter.poll() is None:
                exporter.terminate()
                exporter.wait()


if __name__ == "__main__":
    main()
