"""CI: contrib/windows/apex-ioc-sync.xml parses as a Task Scheduler task that runs
apex-ioc-sync.exe every 30 minutes, and every text install-task.ps1 replaces is in it."""

import re
import xml.etree.ElementTree as ET

XML = "contrib/windows/apex-ioc-sync.xml"
SCRIPT = "contrib/windows/install-task.ps1"
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}

root = ET.parse(XML).getroot()
assert root.tag == "{%s}Task" % NS["t"], f"{XML}: the root is {root.tag}, not a Task"
command = root.find("t:Actions/t:Exec/t:Command", NS).text
assert command.endswith("\\apex-ioc-sync.exe"), f"{XML}: the task runs {command}"
interval = root.find("t:Triggers/t:TimeTrigger/t:Repetition/t:Interval", NS).text
assert interval == "PT30M", f"{XML}: the task repeats every {interval}"
text = open(XML, encoding="utf-8").read()
anchors = re.findall(r"Set-Text \$xml '([^']+)'", open(SCRIPT, encoding="utf-8").read())
assert len(anchors) == 4, f"{SCRIPT}: expected 4 replacements, found {anchors}"
for anchor in anchors:
    assert anchor in text, f"{SCRIPT} replaces {anchor!r}, which {XML} does not hold"
print(f"{XML} parses; the {len(anchors)} texts {SCRIPT} replaces are in it")
