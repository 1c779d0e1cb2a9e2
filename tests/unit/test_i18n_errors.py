"""Validation errors in the reader's language (Accept-Language), the same shape either way; a 403 that
names roles as tokens write them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.auth import Principal, Role, issue_token, require_roles
from shared.infra.i18n import field_name, prefers_chinese
from shared.infra.process import install_error_handlers


class Category(StrEnum):
    dibao = "dibao"
    tekun = "tekun"


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: Annotated[int, Field(gt=0, le=100_000_000)]
    reason: Annotated[str, Field(max_length=4)]
    region: Annotated[str, Field(pattern=r"^\d{6}$")]
    category: Category
    kind: Literal["a", "b"]
    since: date
    members: list[str] = []

    @field_validator("members")
    @classmethod
    def one_each(cls, members: list[str]) -> list[str]:
        if len(set(members)) != len(members):
            raise ValueError("成员重复 / a person appears twice in members")
        return members


GOOD = {"amount_fen": 1, "reason": "房屋", "region": "640104", "category": "dibao", "kind": "a",
        "since": "2026-01-01"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/forms")
    async def submit(form: Form) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/finance-only")
    async def finance_only(p: Annotated[Principal, Depends(require_roles(Role.finance))]) -> dict[str, str]:
        return {"who": p.subject}

    with TestClient(app) as c:
        yield c


ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


@pytest.mark.parametrize(("change", "loc", "kind", "zh"), [
    ({"amount_fen": None}, "amount_fen", "int_type", "字段 amount_fen 须为整数"),
    ({"amount_fen": "十"}, "amount_fen", "int_parsing", "字段 amount_fen 须为整数"),
    ({"amount_fen": 0}, "amount_fen", "greater_than", "字段 amount_fen 须大于 0"),
    ({"amount_fen": 100_000_001}, "amount_fen", "less_than_equal", "字段 amount_fen 须小于或等于 100000000"),
    ({"reason": "房屋受损严重"}, "reason", "string_too_long", "字段 reason 最多 4 个字符"),
    ({"region": "6401"}, "region", "string_pattern_mismatch", "字段 region 格式不正确（须符合 ^\\d{6}$）"),
    ({"category": "x"}, "category", "enum", "字段 category 须为以下之一：'dibao' 或 'tekun'"),
    ({"kind": "c"}, "kind", "literal_error", "字段 kind 须为以下之一：'a' 或 'b'"),
    ({"since": "2026/01/01"}, "since", "date_from_datetime_parsing", "字段 since 须为日期，格式 YYYY-MM-DD"),
    ({"members": ["p1", "p1"]}, "members", "value_error", "字段 members：成员重复 / a person appears twice in members"),
    ({"extra": 1}, "extra", "extra_forbidden", "不允许的字段 extra（接口没有这个字段）"),
])
def test_a_chinese_reader_gets_each_error_in_chinese_naming_the_field_in_the_same_shape(
        client: TestClient, change: dict[str, object], loc: str, kind: str, zh: str) -> None:
    body = {**GOOD, **change}
    chinese = client.post("/forms", json=body, headers=ZH)
    english = client.post("/forms", json=body, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert chinese.status_code == english.status_code == 422
    [zh_error] = chinese.json()["detail"]
    [en_error] = english.json()["detail"]
    assert zh_error["msg"] == zh
    assert set(zh_error) == set(en_error) and {"loc", "msg", "type"} <= set(zh_error)
    assert zh_error["loc"] == en_error["loc"] == ["body", loc] and zh_error["type"] == en_error["type"] == kind
    assert en_error["msg"].isascii() or kind == "value_error"  # pydantic's English, as before


def test_a_missing_field_and_broken_json_are_chinese_too(client: TestClient) -> None:
    body = {k: v for k, v in GOOD.items() if k != "reason"}
    [missing] = client.post("/forms", json=body, headers={"Accept-Language": "zh"}).json()["detail"]
    assert (missing["type"], missing["msg"]) == ("missing", "缺少必填字段 reason")
    broken = client.post("/forms", content=b'{"amount_fen": ', headers={**ZH, "content-type": "application/json"})
    [error] = broken.json()["detail"]
    assert broken.status_code == 422 and error["type"] == "json_invalid"
    assert error["msg"].startswith("请求体不是有效的 JSON")


def test_without_a_chinese_preference_the_message_is_pydantics_english(client: TestClient) -> None:
    [error] = client.post("/forms", json={**GOOD, "amount_fen": 0}).json()["detail"]
    assert error["msg"] == "Input should be greater than 0"


@pytest.mark.parametrize(("header", "chinese"), [
    ("zh-CN", True), ("zh", True), ("zh-Hans-CN,en;q=0.5", True), ("en;q=0.4,zh-TW;q=0.8", True),
    ("en-US,zh-CN;q=0.9", False), ("zh;q=0,en", False), ("", False), (None, False), ("zhx", False),
    ("fr;q=bogus,zh", True),
])
def test_the_preferred_language_follows_the_q_values(header: str | None, chinese: bool) -> None:
    assert prefers_chinese(header) is chinese


def test_a_field_in_a_list_is_named_as_a_person_writes_it() -> None:
    assert field_name(("body", "members", 0, "id_number")) == "members[0].id_number"
    assert field_name(("query", "offset")) == "offset"
    assert field_name(("body",)) == "body"


def test_a_403_names_roles_as_tokens_write_them_not_python_enum_reprs(client: TestClient) -> None:
    token = issue_token("clerk-1", "clerk", region="6401")
    r = client.get("/finance-only", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    detail = r.json()["detail"]
    assert detail == ("角色 clerk 无权执行此操作（须为：admin, finance）/ "
                      "role clerk may not do this (needs one of: admin, finance)")
    assert "<Role" not in detail
