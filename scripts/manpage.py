#!/usr/bin/env python3
"""Writes agent(1) in roff from the argument parser's description of the commands.

Usage: agent --experimental-dump-help | scripts/manpage.py > agent.1
Every command, argument and option comes from the parser (the same text as `agent help`), so the
page cannot drift from the binary.
"""
import json
import sys


def roff(text):
    """Escapes text for roff: backslashes, and a leading dot or quote."""
    text = (text or "").replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        lines.append("\\&" + line if line[:1] in (".", "'") else line)
    return "\n".join(lines)


def usage(argument):
    name = argument.get("preferredName") or (argument.get("names") or [{}])[0]
    if argument["kind"] == "positional":
        text = "<" + argument.get("valueName", "value") + ">"
    else:
        dash = "-" if name.get("kind") in ("short", "longWithSingleDash") else "--"
        text = dash + name.get("name", "")
        if argument["kind"] == "option":
            text += " <" + argument.get("valueName", "value") + ">"
    if argument.get("isRepeating"):
        text += " ..."
    return text


def arguments(command):
    shown = [a for a in command.get("arguments", []) if a.get("shouldDisplay", True)]
    out = []
    for argument in shown:
        if usage(argument) in ("-h", "--help"):
            continue
        out.append(".TP")
        out.append("\\fB" + roff(usage(argument)) + "\\fR")
        text = argument.get("abstract", "")
        if argument.get("discussion"):
            text += " " + argument["discussion"]
        if argument.get("defaultValue") not in (None, ""):
            text += " (default: " + argument["defaultValue"] + ")"
        out.append(roff(text))
    return out


def main():
    tool = json.load(sys.stdin)["command"]
    name = tool["commandName"]
    out = [
        '.TH %s 1 "" "ModelOps Agent" "User Commands"' % name.upper(),
        ".SH NAME",
        "%s \\- %s" % (name, roff(tool.get("abstract", ""))),
        ".SH SYNOPSIS",
        "\\fB%s\\fR \\fIcommand\\fR [\\fIoptions\\fR]" % name,
        ".br",
        "\\fB%s \\-\\-version\\fR" % name,
        ".SH DESCRIPTION",
        roff(tool.get("discussion") or tool.get("abstract", "")),
        ".SH COMMANDS",
    ]
    for command in tool.get("subcommands", []):
        if not command.get("shouldDisplay", True) or command["commandName"] == "help":
            continue
        out.append(".SS %s %s" % (name, command["commandName"]))
        out.append(roff(command.get("abstract", "")))
        if command.get("discussion"):
            out.append(".PP")
            out.append(roff(command["discussion"]))
        out += arguments(command)
    out += [
        ".SH EXIT STATUS",
        "0 on success; 1 when a command fails (the reason on standard error); 2 from",
        "\\fBplan \\-\\-detailed\\-exitcode\\fR when there are changes.",
        ".SH SEE ALSO",
        "The README and docs/ of the ModelOps Agent repository.",
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
