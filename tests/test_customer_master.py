"""The customer master (tiering.data.customers): roles from English and Chinese headers,
the loader's id rules, every rejection reason with its row, the join counts, derived
features, the DuckDB streaming join, and the parameters."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tiering import params
from tiering.data import customers as cm
from tiering.data.features import customer_features
from tiering.data.io import load
from tiering.errors import DataError, ParamsError
from tiering.params import CustomerMaster, DataSource, EngineSpec


def master(path, **kw) -> cm.MasterResult:
    return cm.read_customers(CustomerMaster(path=path, **kw))


def reasons_of(result: cm.MasterResult) -> dict[int, str]:
    return dict(zip(result.rejected["row"], result.rejected["reason"], strict=True))


ZH = (
    "客户编号,客户名称,信用等级,信用评分,逾期天数,逾期金额,信用额度,建档日期,客户经理,"
    "行业,客户类型,满意度,NPS,推荐人数,名单,备注\n"
    '00123,甲公司,AAA,720,0,0,"50,000",2020-03-15,王伟,制造,企业客户,4.5,9,2,红名单,x\n'
    '123,乙公司,B,,95,"1,200.50",10000,2023-11-02,李娜,零售,个人客户,3,,0,黑名单,y\n'
)


# --------------------------------------------------------------------------- roles


def test_chinese_headers_are_recognised_with_typed_values(write_csv):
    r = master(write_csv(ZH, "master.csv"))
    assert r.roles == cm.ROLES  # every role recognised
    assert r.attributes == ("备注",)
    c = r.customers
    assert c["customer_id"].tolist() == ["00123", "123"]  # zeros kept: two customers
    assert c["credit_limit"].tolist() == [50000.0, 10000.0]
    assert c["overdue_amount"].tolist() == [0.0, 1200.5]
    assert np.isnan(c["credit_score"].iloc[1])  # blank: missing, not rejected
    assert c["signup_date"].tolist() == [pd.Timestamp("2020-03-15"), pd.Timestamp("2023-11-02")]
    assert c["owner"].tolist() == ["王伟", "李娜"]
    assert c["list_status"].tolist() == ["red", "black"]
    assert c["备注"].tolist() == ["x", "y"]
    assert r.rejected.empty and r.source["rows_read"] == 2 == r.source["rows_used"]
    assert r.source["columns"]["credit_rating"] == "信用等级"


def test_english_headers_gbk_semicolons_and_a_title_row(write_csv):
    text = (
        "CRM export 2024-06-01\n"
        "Customer ID;Credit Rating;Days Overdue;Account Manager;Industry;Customer Since;NPS\n"
        "17850.0;A;0;Ann;Retail;05/01/2020;8\n"
        "C2;B;120;Bob;Food;13/01/2021;-20\n"
    )
    r = master(write_csv(text, "m.csv", encoding="gbk"))
    c = r.customers
    assert r.source["header_row"] == 2 and r.source["delimiter"] == ";"
    assert c["customer_id"].tolist() == ["17850", "C2"]  # 17850.0 is 17850, as the loader
    assert c["owner"].tolist() == ["Ann", "Bob"]
    # 13/01/2021 proves day first for the whole column: 05/01/2020 is 5 January
    assert c["signup_date"].tolist() == [pd.Timestamp("2020-01-05"), pd.Timestamp("2021-01-13")]
    assert c["nps"].tolist() == [8.0, -20.0]


def test_explicit_columns_and_a_missing_one_named(write_csv):
    path = write_csv("Kunde,Bonität,Betreuer\nK1,AA,Eva\n", "m.csv")
    r = master(
        path, columns={"customer_id": "Kunde", "credit_rating": "Bonität", "owner": "Betreuer"}
    )
    assert r.customers[["customer_id", "credit_rating", "owner"]].values.tolist() == [
        ["K1", "AA", "Eva"]
    ]
    with pytest.raises(DataError) as err:
        master(path, columns={"customer_id": "Kunde", "owner": "Betreur"})
    assert "data.customers.columns.owner" in str(err.value) and "'Betreuer'" in str(err.value)
    with pytest.raises(DataError) as err:
        master(write_csv("Name,Rating\nA,1\n", "no_id.csv"))
    assert "customer_id" in str(err.value) and "data.customers.columns" in str(err.value)


def test_xlsx_and_parquet_are_read_like_the_csv(tmp_path, write_csv):
    frame = pd.DataFrame(
        {"客户编号": ["00123", "C2"], "信用评分": ["700", "650.5"], "客户经理": ["王", "李"]}
    )
    frame.to_excel(tmp_path / "m.xlsx", index=False)
    frame.to_parquet(tmp_path / "m.parquet", index=False)
    csv = master(write_csv(frame.to_csv(index=False), "m.csv")).customers
    for name in ("m.xlsx", "m.parquet"):
        got = master(tmp_path / name).customers
        pd.testing.assert_frame_equal(got, csv)


def test_a_missing_file_names_the_parameter(tmp_path):
    with pytest.raises(DataError) as err:
        master(tmp_path / "nope.csv")
    assert "data.customers.path" in str(err.value)


# --------------------------------------------------------------------------- rejections


BAD = (
    "customer_id,credit_score,overdue_days,credit_limit,signup_date,referrals,list_status\n"
    "C1,700,0,1000,2020-01-01,1,\n"  # 2: fine
    "C2,abc,0,1000,2020-01-01,1,\n"  # 3: bad_master_number
    "C3,700,-3,1000,2020-01-01,1,\n"  # 4: negative_master_number
    "C4,700,0,1000,2020-13-45,1,\n"  # 5: bad_signup_date
    "C5,700,0,1000,2024,1,\n"  # 6: bad_signup_date (year alone)
    "C6,700,0,1000,2020-01-01,1.5,\n"  # 7: bad_master_number (not whole)
    "C7,700,0,1000,2020-01-01,1,maybe\n"  # 8: bad_list_status
    "C8,700,0,1000,2020-01-01,1,\n"  # 9: fine
    "C8,700,0,1000,2020-01-01,1,\n"  # 10: duplicate_row (exact copy of 9)
    "C9,700,0,1000,2020-01-01,1,\n"  # 11: duplicate_customer_id
    "C9,710,0,1000,2020-01-01,1,\n"  # 12: duplicate_customer_id
    ",700,0,1000,2020-01-01,1,\n"  # 13: missing_customer_id
    "1.23457E+11,700,0,1000,2020-01-01,1,\n"  # 14: rounded_customer_id
    "C15,700,0,1000,2999-01-01,1,\n"  # 15: bad_signup_date (future)
    "C16,700,0,1000,1850-01-01,1,\n"  # 16: bad_signup_date (before 1900)
    "C17,700,0,-5,2020-01-01,1,\n"  # 17: negative_master_number
)


def test_every_rejection_reason_with_its_row(write_csv):
    r = master(write_csv(BAD, "bad.csv"))
    assert reasons_of(r) == {
        3: "bad_master_number",
        4: "negative_master_number",
        5: "bad_signup_date",
        6: "bad_signup_date",
        7: "bad_master_number",
        8: "bad_list_status",
        10: "duplicate_row",
        11: "duplicate_customer_id",
        12: "duplicate_customer_id",
        13: "missing_customer_id",
        14: "rounded_customer_id",
        15: "bad_signup_date",
        16: "bad_signup_date",
        17: "negative_master_number",
    }
    assert r.customers["customer_id"].tolist() == ["C1", "C8"]
    # nothing lost: every row read is used or rejected
    assert r.source["rows_read"] == 16 == r.source["rows_used"] + r.source["rows_rejected"]
    detail = dict(zip(r.rejected["row"], r.rejected["detail"], strict=True))
    assert detail[3] == "credit_score: abc"
    assert detail[11] == detail[12] == "customer id C9 on rows 11, 12"
    assert "not a whole number" in detail[7]
    # the loader's layout: reason columns, then the original cells
    assert list(r.rejected.columns[:4]) == ["row", "reason", "category", "detail"]
    assert r.rejected.loc[r.rejected["row"] == 3, "src_credit_score"].item() == "abc"
    q = r.quality.set_index("reason")["rows"]
    assert q["bad_signup_date"] == 4 and q["duplicate_customer_id"] == 2
    assert q.sum() == len(r.rejected)


def test_every_reason_code_has_report_text_in_both_languages():
    from tiering.present.i18n import t

    for code in cm.REASONS:
        en, zh = t(f"reasons.reason_{code}", "en"), t(f"reasons.reason_{code}", "zh")
        assert en and zh and en != zh


def test_an_ambiguous_number_column_is_refused_as_the_loader_refuses_it(write_csv):
    path = write_csv("customer_id,credit_limit\nC1,250.000\nC2,100\n", "m.csv")
    with pytest.raises(DataError) as err:
        master(path)
    assert "data.decimal" in str(err.value) and "credit_limit" in str(err.value)
    r = master(path, decimal=",")
    assert r.customers["credit_limit"].tolist() == [250000.0, 100.0]


def test_header_only_file_is_a_clear_error(write_csv):
    with pytest.raises(DataError) as err:
        master(write_csv("customer_id,credit_score\n", "m.csv"))
    assert "no rows" in str(err.value)


# --------------------------------------------------------------------------- join


def features_of(ids) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "monetary": np.arange(len(ids), dtype=float)})


JOIN = (
    "customer_id,signup_date,overdue_days,overdue_amount,owner,customer_type\n"
    "00123,2024-01-31,0,0,Ann,B2B\n"  # master only: the transactions have 123
    "C1,2023-06-15,95,,Bob,B2C\n"  # matched
    "C2,,,,Cy,B2C\n"  # matched, nothing known about overdue
    "C3,2024-07-01,0,10,Di,B2B\n"  # matched, sign-up after as_of
    "C4,2022-01-01,0,0,Ed,B2B\n"  # master only
    "C4,2022-01-02,0,0,Ed,B2B\n"  # duplicate id: rejected, so C4 is not in the master
)


def test_join_counts_by_hand(write_csv):
    r = master(write_csv(JOIN, "m.csv"))
    assert r.customers["customer_id"].tolist() == ["00123", "C1", "C2", "C3"]
    f = features_of(["123", "C1", "C2", "C3", "C4", "Z9"])
    f["customer_type"] = "x"  # a transaction attribute of the same name
    j = cm.join_customers(f, r, as_of=dt.date(2024, 6, 1))
    counts = j.counts.iloc[0].to_dict()
    assert counts == {
        "transaction_customers": 6,
        "master_customers": 4,
        "matched": 3,  # C1, C2, C3
        "transactions_only": 3,  # 123, C4 (its master rows were rejected), Z9
        "master_only": 1,  # 00123
        "zero_padding": 1,  # 123 / 00123: not joined, but counted
    }
    c = j.customers
    assert c["customer_id"].tolist() == ["123", "C1", "C2", "C3", "C4", "Z9"]  # features' order
    assert c["in_master"].tolist() == [False, True, True, True, False, False]
    assert c["owner"].tolist()[1:4] == ["Bob", "Cy", "Di"]
    assert pd.isna(c["owner"].iloc[0])
    assert c["customer_type"].tolist() == ["x"] * 6  # the features' column is kept ...
    assert c["customer_type_master"].tolist()[1:4] == ["B2C", "B2C", "B2B"]  # ... and the master's
    # tenure: 2023-06-15 -> 2024-06-01 is 11 whole months; after as_of: missing
    assert c["tenure_months"].tolist()[1] == 11.0
    assert np.isnan(c["tenure_months"].iloc[3]) and np.isnan(c["tenure_months"].iloc[2])
    assert j.signup_after_as_of == 1
    assert c["overdue"].tolist() == [pd.NA, True, pd.NA, True, pd.NA, pd.NA]
    assert j.master_only["customer_id"].tolist() == ["00123"]


def test_tenure_months_by_calendar():
    s = pd.Series(pd.to_datetime(["2024-01-31", "2024-01-31", "2023-03-01", None]))
    assert cm.tenure_months(s, dt.date(2024, 2, 29)).tolist()[:3] == [0.0, 0.0, 11.0]
    assert cm.tenure_months(s, dt.date(2024, 3, 1)).tolist()[:3] == [1.0, 1.0, 12.0]
    assert np.isnan(cm.tenure_months(s, dt.date(2024, 3, 1)).iloc[3])


def test_join_equals_a_pandas_merge(write_csv, tmp_path):
    rng = np.random.default_rng(3)
    ids = [f"{i:05d}" for i in rng.choice(2000, 800, replace=False)]
    rows = "\n".join(f"{i},{rng.integers(0, 200)},{rng.integers(300, 850)}" for i in ids)
    r = master(write_csv("customer_id,overdue_days,credit_score\n" + rows + "\n", "m.csv"))
    f = features_of([f"{i:05d}" for i in range(0, 2000, 3)])
    j = cm.join_customers(f, r, as_of=dt.date(2024, 1, 1))
    ref = f.merge(r.customers.drop(columns="row"), on="customer_id", how="left")
    pd.testing.assert_frame_equal(
        j.customers[ref.columns], ref, check_dtype=False, check_index_type=False
    )
    assert j.counts["matched"].item() == len(set(ids) & set(f["customer_id"]))
    assert j.counts["master_only"].item() == len(set(ids) - set(f["customer_id"]))


def test_stream_join_uses_the_duckdb_engine_and_matches_the_pandas_path(write_csv):
    tx = write_csv(
        "customer_id,order_date,amount\n"
        "00123,2024-01-05,10\n123,2024-01-06,20\nC1,2024-02-01,30\nC1,2024-03-01,5\n"
        "Z9,2024-03-02,7\n",
        "tx.csv",
    )
    r = master(write_csv(JOIN, "m.csv"))
    src = DataSource(path=tx)
    res, j = cm.stream_join(src, r, spec=EngineSpec(engine="duckdb", cache_dir=None))
    assert res.engine == "duckdb" and res.transactions is None  # no transactions in pandas
    loaded = load(src)
    ref = cm.join_customers(
        customer_features(loaded.transactions, as_of=loaded.as_of), r, as_of=loaded.as_of
    )
    assert j.counts.to_dict() == ref.counts.to_dict()
    assert j.counts.iloc[0][["matched", "transactions_only", "master_only"]].tolist() == [2, 2, 2]
    pd.testing.assert_frame_equal(
        j.customers[["customer_id", "monetary", "in_master", "owner", "tenure_months"]],
        ref.customers[["customer_id", "monetary", "in_master", "owner", "tenure_months"]],
        check_dtype=False,
    )


# --------------------------------------------------------------------------- parameters


def test_parameters_resolve_the_master_path_and_refuse_unknown_keys(tmp_path):
    (tmp_path / "m.csv").write_text("customer_id\nC1\n", encoding="utf-8")
    yaml_text = (
        "data:\n  path: tx.csv\n  customers:\n    path: m.csv\n    columns: {owner: 客户经理}\n"
    )
    (tmp_path / "p.yaml").write_text(yaml_text, encoding="utf-8")
    p = params.load(tmp_path / "p.yaml")
    assert p.data.customers.path == (tmp_path / "m.csv").resolve()
    assert p.data.customers.columns.owner == "客户经理"
    assert p.data.model_dump(mode="json")["customers"]["columns"]["owner"] == "客户经理"
    with pytest.raises(ParamsError) as err:
        params.validate({"data": {"path": "x", "customers": {"path": "m", "colums": {}}}})
    assert "data.customers.colums" in str(err.value)
    # without a master, the dump is what it was (goldens, cache keys)
    plain = params.validate({"data": {"path": "x"}})
    assert "customers" not in plain.data.model_dump() and "campaigns" not in plain.data.model_dump()


def test_the_fast_paths_read_as_the_loader_reads():
    from tiering.data import io

    dates = pd.Series(["2024-03-15", "2024-02-30", "15/03/2024", "2024", "", "2024年3月5日"])
    got, partial = cm.column_dates(dates, dayfirst=None, column="d", file="f")
    pd.testing.assert_series_equal(got, io.parse_dates_us(dates), check_names=False)
    assert partial.tolist() == [False, False, False, True, False, False]
    for values in (["12", "-3", "", "007"], ["12", "1,200.50", "¥3", "x"]):
        s = pd.Series(values)
        ref = io.parse_amounts(s, thousands=io.thousands_dots(io.amount_shapes(s)))
        pd.testing.assert_series_equal(
            cm.column_numbers(s, decimal=None, column="c", file="f"), ref
        )
