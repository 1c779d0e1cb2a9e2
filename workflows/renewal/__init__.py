"""Renewal review (动态管理 / 定期核查), domain pathway 4: an enrolled household's monthly benefit, its
periodic and off-cycle reviews, the gradual exit (渐退期) and termination."""
