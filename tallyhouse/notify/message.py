"""A message, and how each channel wants it: e-mail (text and HTML, attachments), Slack
(Block Kit), Teams (an Adaptive Card, as a Workflows webhook takes it) and Google Chat (text).

A message is written once as a headline and sections of lines; each renderer only lays
them out. The chat sections are the e-mail's, with breaks below the materiality threshold
left out (the e-mail and the report keep every break).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SLACK_SECTION_LIMIT = 2900  # Block Kit: 3000 characters per section text
GCHAT_LIMIT = 4000  # Google Chat: 4096 characters per text message
TEAMS_LIMIT = 20000  # Teams: about 28 KB per card


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    table: list[list[str]] | None = None  # e-mail only: a header row, then rows


@dataclass
class Attachment:
    filename: str
    content: bytes
    mime: str  # e.g. "text/csv"


@dataclass
class Message:
    kind: str  # digest, all_clear, alert or test
    run_id: str | None
    subject: str  # the verdict: the e-mail's subject and the chat message's first line
    intro: str = ""
    sections: list[Section] = field(default_factory=list)
    chat_sections: list[Section] | None = None  # None: the same as sections
    link: str | None = None  # the full report: an http(s) URL, or a path on the server
    link_label: str = "Full report"
    attachments: list[Attachment] = field(default_factory=list)
    tone: str = "ok"  # ok, warn, bad: the colour of the verdict

    def chat(self) -> list[Section]:
        return self.sections if self.chat_sections is None else self.chat_sections

    # ---------------------------------------------------------------- e-mail

    def text(self) -> str:
        out = [self.subject, ""]
        if self.intro:
            out += [self.intro, ""]
        for section in self.sections:
            out.append(section.title)
            out += [f"  - {line}" for line in section.lines]
            if section.table:
                out += ["  " + " | ".join(row) for row in section.table]
            out.append("")
        if self.link:
            out.append(f"{self.link_label}: {self.link}")
        for attachment in self.attachments:
            out.append(f"Attached: {attachment.filename}")
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        env = Environment(loader=PackageLoader("tallyhouse.notify", "templates"),
                          autoescape=select_autoescape(["html", "j2"]),
                          undefined=StrictUndefined)
        link_is_url = bool(self.link and self.link.startswith(("http://", "https://")))
        return env.get_template("digest.html.j2").render(
            message=self, link_is_url=link_is_url)

    # ---------------------------------------------------------------- chat

    def slack(self) -> dict:
        """Slack incoming webhook: ``text`` (the notification's fallback) and blocks."""
        blocks: list[dict] = [{"type": "section", "text": {
            "type": "mrkdwn", "text": f"*{_slack_escape(self.subject)}*"}}]
        if self.intro:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": _slack_escape(self.intro)}]})
        for section in self.chat():
            body = f"*{_slack_escape(section.title)}*"
            if section.lines:
                body += "\n" + "\n".join(f"• {_slack_escape(line)}" for line in section.lines)
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": _cut(body, SLACK_SECTION_LIMIT)}})
        if self.link:
            shown = (f"<{self.link}|{self.link_label}>" if self.link.startswith("http")
                     else f"{self.link_label}: `{_slack_escape(self.link)}`")
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": shown}]})
        return {"text": self.subject, "blocks": blocks[:50]}

    def teams(self) -> dict:
        """A Teams Workflows webhook ("When a Teams webhook request is received" → post an
        Adaptive Card): a message with one Adaptive Card attachment (no MessageCard)."""
        colour = {"ok": "Good", "warn": "Warning", "bad": "Attention"}.get(self.tone, "Default")
        body: list[dict] = [{"type": "TextBlock", "text": self.subject, "weight": "Bolder",
                             "size": "Medium", "wrap": True, "color": colour}]
        if self.intro:
            body.append({"type": "TextBlock", "text": self.intro, "wrap": True,
                         "isSubtle": True, "spacing": "Small"})
        for section in self.chat():
            body.append({"type": "TextBlock", "text": section.title, "weight": "Bolder",
                         "wrap": True, "spacing": "Medium"})
            if section.lines:
                body.append({"type": "TextBlock", "wrap": True, "spacing": "Small",
                             "text": _cut("\n".join(f"- {line}" for line in section.lines),
                                          TEAMS_LIMIT // 4)})
        card: dict = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                      "type": "AdaptiveCard", "version": "1.4", "body": body}
        if self.link and self.link.startswith("http"):
            card["actions"] = [{"type": "Action.OpenUrl", "title": self.link_label,
                                "url": self.link}]
        elif self.link:
            body.append({"type": "TextBlock", "text": f"{self.link_label}: {self.link}",
                         "wrap": True, "isSubtle": True})
        return {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
            "content": card}]}

    def gchat(self) -> dict:
        """A Google Chat incoming webhook: one text message (*bold*, <url|label>)."""
        out = [f"*{self.subject}*"]
        if self.intro:
            out.append(f"_{self.intro}_")
        for section in self.chat():
            out.append("")
            out.append(f"*{section.title}*")
            out += [f"• {line}" for line in section.lines]
        if self.link:
            out += ["", f"<{self.link}|{self.link_label}>" if self.link.startswith("http")
                    else f"{self.link_label}: {self.link}"]
        return {"text": _cut("\n".join(out), GCHAT_LIMIT)}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 2] + " …"
