"""CI: the scheduled tasks of contrib/windows parse as Task Scheduler tasks: apex-ioc-sync.xml
runs apex-ioc-sync.exe every 30 minutes; apex-ioc-sync-watch.xml runs its watch from boot on,
started again if it ends, with no time limit; and every text install-task.ps1 replaces is in
both."""

import re
import xml.etree.ElementTree as ET

SCHEDULED = "contrib/windows/apex-ioc-sync.xml"
WATCH = "contrib/windows/apex-ioc-sync-watch.xml"
SCRIPT = "contrib/windows/install-task.ps1"
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def task(path):
    root = ET.parse(path).getroot()
    assert root.tag == "{%s}Task" % NS["t"], f"{path}: the root is {root.tag}, not a Task"
    command = root.find("t:Actions/t:Exec/t:Command", NS).text
    assert command.endswith("\\apex-ioc-sync.exe"), f"{path}: the task runs {command}"
    return root


def text(root, path):
    element = root.find(path, NS)
    return None if element is None else element.text


root = task(SCHEDULED)
interval = text(root, "t:Triggers/t:TimeTrigger/t:Repetition/t:Interval")
assert interval == "PT30M", f"{SCHEDULED}: the task repeats every {interval}"
assert not text(root, "t:Actions/t:Exec/t:Arguments").startswith("watch"), SCHEDULED

root = task(WATCH)
arguments = text(root, "t:Actions/t:Exec/t:Arguments")
assert arguments.startswith("watch "), f"{WATCH}: the task runs {arguments}"
assert root.find("t:Triggers/t:BootTrigger", NS) is not None, f"{WATCH}: no boot trigger"
assert text(root, "t:Settings/t:RestartOnFailure/t:Interval") == "PT1M", f"{WATCH}: no restart on failure"
# Task Scheduler restarts a start that failed, not a process that ended: the repetition,
# ignored while the watch runs, starts it again.
again = text(root, "t:Triggers/t:TimeTrigger/t:Repetition/t:Interval")
assert again == "PT5M", f"{WATCH}: the watch is started again every {again}"
assert text(root, "t:Settings/t:MultipleInstancesPolicy") == "IgnoreNew", WATCH
limit = text(root, "t:Settings/t:ExecutionTimeLimit")
assert limit == "PT0S", f"{WATCH}: a service stopped after {limit}"

anchors = re.findall(r"Set-Text \$xml '([^']+)'", open(SCRIPT, encoding="utf-8").read())
assert len(anchors) == 4, f"{SCRIPT}: expected 4 replacements, found {anchors}"
for path in (SCHEDULED, WATCH):
    whole = open(path, encoding="utf-8").read()
    for anchor in anchors:
        assert anchor in whole, f"{SCRIPT} replaces {anchor!r}, which {path} does not hold"
print(f"{SCHEDULED} and {WATCH} parse; the {len(anchors)} texts {SCRIPT} replaces are in both")
