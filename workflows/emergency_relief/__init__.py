"""Emergency relief: assist first, document later (先行救助，后补齐说明). Domain pathway 1.

Seeds: 002 (Ningxia): "对低保对象、特困人员以及因家庭成员被隔离收治等原因导致基本生活出现暂时困难的家庭，
按照当地城市低保月标准3倍，直接给予一次性临时救助金" and the COVID one-time subsidy for diagnosed
recipients; 000 (Xinjiang): township approval below 2,000 yuan, paid first from the township reserve
fund; 003 (national): "assist first" for emergencies and disaster victims.
"""

# The workflow class lives in .workflow; starters (intake) import only .inputs.
