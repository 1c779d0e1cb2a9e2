"""One matter, one discussion (一事一议、一案一策), domain pathway 3: a case whose need exceeds the
normal caps, or that a person escalates, goes to the county coordination committee (XPCC: the
regiment): a dossier, each member's opinion by a deadline, a decision with a raised amount paid at once
or as a staged plan, and minutes; reminders, and escalation to the prefecture when it stalls.

Seeds: 003 ("进一步健全完善县级困难群众基本生活保障工作协调机制", 一事一议 for major hardship), 002
(Ningxia: county coordination mechanism for major hardship), 001, 004 (big public events go to
"one matter one discussion").
"""
