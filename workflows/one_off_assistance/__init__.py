"""Event-triggered one-off assistance (domain pathway 5): job loss, unemployed graduates, large medical
self-pay; and expenditure-type temporary assistance on application (支出型临时救助: normal review, seed
004). Seeds: 002 (Ningxia: "经本人申请" 3x the city monthly standard; people in the low-income
database or certified by the rural-revitalisation office "不再进行家庭经济状况核查"; medical self-pay of
20,000 yuan or more for low-income monitored people), 001 (Jiangxi: 2-4x the local standard).

Some facts come from other agencies (主动发现, proactive discovery): the case opens as outreach, the
person is invited to apply, and their application joins the same case; the payment follows only
after the application where the policy says "on application".
"""
