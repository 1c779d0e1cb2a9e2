-- Facts the monthly benefit needs (issue 13 items 14, 15):
-- a remote household (XPCC seed 004 「对距离团部 30 公里以上的连队或边境团场的低保对象」: the remote add-on)
-- and a member's place of work away from home (seed 001 「按照务工地同期月最低生活保障标准的 30% 计算」).
ALTER TABLE households ADD COLUMN remote boolean NOT NULL DEFAULT false;
ALTER TABLE members ADD COLUMN work_region_code text;
