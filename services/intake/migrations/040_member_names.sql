-- 家庭档案: a household is found by a member's name (a prefix: 张 finds 张三 and 张三丰).
CREATE INDEX members_name ON members (name text_pattern_ops);
