"""Payloads in each platform's own published format (see shared/reference/payloads)."""

from __future__ import annotations

import functools
import hashlib
import unicodedata
import uuid
from datetime import datetime, timedelta, timezone

from tallyhouse.generator.catalog import (
    CITIES,
    DIGITAL_PRODUCTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    Product,
)
from tallyhouse.generator.model import ALTERNATE_SPELLINGS, EMISSIONS, Txn

BRT = timezone(timedelta(hours=-3))  # America/Sao_Paulo has had no DST since 2019


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


@functools.lru_cache(maxsize=100_000)
def customer(index: int) -> dict:
    """A deterministic customer for an index; the same e-mail on every platform."""
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    city, state, zipcode = CITIES[index % len(CITIES)]
    return {
        "first": first,
        "last": last,
        "name": f"{first} {last}",
        "email": f"{_ascii(first)}.{_ascii(last)}.{index}"
                 f"@{EMAIL_DOMAINS[index % len(EMAIL_DOMAINS)]}",
        "document": f"{(index * 7919 + 10_000_000_000) % 100_000_000_000:011d}",
        "phone": f"9{(index * 104729) % 100_000_000:08d}",
        "ddd": str(11 + index % 80),
        "city": city,
        "state": state,
        "zipcode": zipcode,
    }


@functools.lru_cache(maxsize=50_000)
def stable_uuid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "tallyhouse:" + ":".join(map(str, parts))))


def hotmart_product_id(product_index: int) -> int:
    return 1_000_000 + product_index * 7_919


def eduzz_product_id(product_index: int) -> str:
    return str(2_000_000 + product_index * 104_729)


def kiwify_product_id(product_index: int) -> str:
    return stable_uuid("kiwify-product", DIGITAL_PRODUCTS[product_index].sku)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def brt(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str | None:
    if moment is None:
        return None
    return moment.astimezone(BRT).strftime(fmt)


def money(cents: int) -> float:
    return round(cents / 100, 2)


def money_text(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def raw_status(platform: str, step: str, spelling_seed: int) -> tuple[str, str, str]:
    emitted = EMISSIONS[platform][step]
    assert emitted is not None
    status, event, normalized = emitted
    alternate = ALTERNATE_SPELLINGS.get((platform, status))
    if alternate and spelling_seed % 2:
        status = alternate
    return status, event, normalized


def hotmart_purchase(txn: Txn, step: str, at: datetime, event_id: str) -> tuple[dict, str]:
    product: Product = DIGITAL_PRODUCTS[txn.product_index]
    buyer = customer(txn.customer)
    status, event, normalized = raw_status("hotmart", step, txn.index)
    cur = txn.currency
    commissions = [{"value": money(txn.fee), "currency_value": cur, "source": "MARKETPLACE"},
                   {"value": money(txn.producer_net), "currency_value": cur, "source": "PRODUCER"}]
    if txn.coproducer:
        commissions.append({"value": money(txn.coproducer), "currency_value": cur,
                            "source": "COPRODUCER"})
    if txn.affiliate:
        commissions.append({"value": money(txn.affiliate), "currency_value": cur,
                            "source": "AFFILIATE"})
    approved_at = txn.approved_at if step not in ("awaiting_payment", "declined", "expired") \
        else None
    payment = {"installments_number": txn.installments, "type": txn.method_raw}
    if txn.method in ("boleto", "boleto_installment"):
        payment["billet_barcode"] = f"03399.{txn.index % 100000:05d} 33823.303087 19802.801027 2"
        payment["billet_url"] = f"https://billet-link.com/b{txn.txn_id}"
    if step == "declined":
        payment["refusal_reason"] = "Transaction refused"
    data: dict = {
        "product": {
            "id": hotmart_product_id(txn.product_index),
            "ucode": stable_uuid("hotmart-product", product.sku),
            "name": product.name,
            "has_co_production": bool(txn.coproducer),
            "warranty_date": (txn.ordered_at + timedelta(days=txn.warranty_days))
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "support_email": "suporte@produtor.com.br",
            "is_physical_product": False,
        },
        "affiliates": ([{"affiliate_code": f"A{txn.tracking['affiliate_id']}",
                         "name": txn.tracking["affiliate_name"]}] if txn.affiliate else []),
        "buyer": {
            "email": buyer["email"], "name": buyer["name"], "first_name": buyer["first"],
            "last_name": buyer["last"], "checkout_phone": buyer["phone"],
            "checkout_phone_code": buyer["ddd"], "document": buyer["document"],
            "document_type": "CPF",
            "address": {"zipcode": buyer["zipcode"], "country": "Brasil", "number": "100",
                        "address": "Rua Exemplo", "city": buyer["city"], "state": buyer["state"],
                        "neighborhood": "Centro", "complement": "", "country_iso": "BR"},
        },
        "producer": {"name": "Produtora Exemplo Ltda", "legal_nature": "Pessoa Jurídica",
                     "document": "12345678000190"},
        "commissions": commissions,
        "purchase": {
            "approved_date": epoch_ms(approved_at) if approved_at else None,
            "full_price": {"value": money(txn.customer_paid), "currency_value": cur},
            "original_offer_price": {"currency_value": cur, "value": money(txn.base_price)},
            "price": {"value": money(txn.offer_price), "currency_value": cur},
            "offer": {"code": txn.offer_code,
                      **({"coupon_code": txn.coupon} if txn.coupon else {})},
            "recurrence_number": txn.subscription["recurrence"] if txn.subscription else 1,
            "subscription_anticipation_purchase": False,
            "checkout_country": {"name": "Brasil", "iso": "BR"},
            "origin": {"src": txn.tracking["src"], "sck": txn.tracking["sck"],
                       "xcod": txn.tracking["xcod"]},
            "order_bump": {"is_order_bump": False},
            "order_date": epoch_ms(txn.ordered_at),
            "status": status,
            "transaction": txn.txn_id,
            "payment": payment,
            "is_funnel": False,
            "business_model": "I",
        },
    }
    if txn.subscription:
        sub = txn.subscription
        data["purchase"]["date_next_charge"] = epoch_ms(txn.ordered_at + timedelta(days=30))
        data["subscription"] = {
            "status": "ACTIVE",
            "plan": {"id": sub["plan_id"], "name": sub["plan_name"]},
            "subscriber": {"code": sub["subscriber"]},
        }
    return {"id": event_id, "creation_date": epoch_ms(at), "event": event, "version": "2.0.0",
            "data": data}, normalized


def hotmart_cancellation(sub: dict, product_index: int, cust: int, at: datetime,
                         event_id: str, recurrence_cents: int) -> dict:
    product = DIGITAL_PRODUCTS[product_index]
    buyer = customer(cust)
    return {
        "id": event_id, "creation_date": epoch_ms(at), "event": "SUBSCRIPTION_CANCELLATION",
        "version": "2.0.0",
        "data": {
            "date_next_charge": epoch_ms(at + timedelta(days=30)),
            "product": {"name": product.name, "id": hotmart_product_id(product_index)},
            "actual_recurrence_value": money(recurrence_cents),
            "subscriber": {"code": sub["subscriber"], "name": buyer["name"],
                           "email": buyer["email"],
                           "phone": {"dddPhone": buyer["ddd"], "phone": buyer["phone"][1:],
                                     "dddCell": buyer["ddd"], "cell": buyer["phone"]}},
            "subscription": {"id": sub["numeric_id"],
                             "plan": {"name": sub["plan_name"], "id": sub["plan_id"]}},
            "cancellation_date": epoch_ms(at),
        },
    }


def hotmart_switch_plan(sub: dict, product_index: int, cust: int, at: datetime, event_id: str,
                        old_plan: tuple[int, str, str], new_plan: tuple[int, str, str]) -> dict:
    product = DIGITAL_PRODUCTS[product_index]
    return {
        "id": event_id, "creation_date": epoch_ms(at), "event": "SWITCH_PLAN", "version": "2.0.0",
        "data": {
            "switch_plan_date": epoch_ms(at),
            "subscription": {
                "subscriber_code": sub["subscriber"], "status": "ACTIVE",
                "date_next_charge": epoch_ms(at + timedelta(days=30)),
                "product": {"id": hotmart_product_id(product_index), "name": product.name},
                "user": {"email": customer(cust)["email"]},
            },
            "plans": [
                {"id": new_plan[0], "name": new_plan[1], "offer": {"key": new_plan[2]},
                 "current": True},
                {"id": old_plan[0], "name": old_plan[1], "offer": {"key": old_plan[2]},
                 "current": False},
            ],
        },
    }


def hotmart_abandonment(product_index: int, cust: int, at: datetime, event_id: str,
                        offer_code: str) -> dict:
    product = DIGITAL_PRODUCTS[product_index]
    buyer = customer(cust)
    return {
        "id": event_id, "creation_date": epoch_ms(at), "event": "PURCHASE_OUT_OF_SHOPPING_CART",
        "version": "2.0.0",
        "data": {
            "affiliate": False,
            "product": {"id": hotmart_product_id(product_index), "name": product.name},
            "buyer_ip": "200.150.1.1",
            "buyer": {"name": buyer["name"], "email": buyer["email"], "phone": buyer["phone"]},
            "offer": {"code": offer_code},
            "checkout_country": {"name": "Brasil", "iso": "BR"},
        },
    }


def hotmart_club_access(product_index: int, cust: int, at: datetime, event_id: str) -> dict:
    product = DIGITAL_PRODUCTS[product_index]
    buyer = customer(cust)
    return {
        "id": event_id, "creation_date": epoch_ms(at), "event": "CLUB_FIRST_ACCESS",
        "version": "2.0.0",
        "data": {"product": {"id": hotmart_product_id(product_index), "name": product.name},
                 "user": {"name": buyer["name"], "email": buyer["email"]}},
    }


def kiwify_order(txn: Txn, step: str, at: datetime, sub_status: str | None = None,
                 event_type: str | None = None) -> tuple[dict, str]:
    product = DIGITAL_PRODUCTS[txn.product_index]
    buyer = customer(txn.customer)
    status, event, normalized = raw_status("kiwify", step, txn.index)
    if step == "awaiting_payment" and txn.method == "pix":
        event = "pix_created"
    is_card = txn.method == "credit_card"
    cur = txn.currency
    stores = [{"id": stable_uuid("kiwify-store", "producer"), "type": "producer",
               "custom_name": "Produtora Exemplo", "email": "financeiro@produtor.com.br",
               "value": str(txn.producer_net)}]
    if txn.coproducer:
        stores.append({"id": stable_uuid("kiwify-store", "coproducer", txn.product_index),
                       "type": "coproducer", "custom_name": "Coprodutor Parceiro",
                       "email": "coprodutor@parceiro.com.br", "value": str(txn.coproducer)})
    if txn.affiliate:
        stores.append({"id": stable_uuid("kiwify-store", "affiliate",
                                         txn.tracking["affiliate_id"]),
                       "type": "affiliate", "affiliate_id": f"AF{txn.tracking['affiliate_id']}",
                       "custom_name": txn.tracking["affiliate_name"],
                       "email": f"afiliado{txn.tracking['affiliate_id']}@parceiro.com.br",
                       "value": str(txn.affiliate)})
    refunded_at = txn.refund_settled_at if step in ("refunded", "chargeback") else None
    payload: dict = {
        "order_id": txn.txn_id,
        "order_ref": txn.extra["order_ref"],
        "order_status": status,
        "product_type": "membership",
        "payment_method": txn.method_raw,
        "store_id": "Lx9StoreProd01",
        "payment_merchant_id": 60_000_000 + txn.index % 9_999_999,
        "installments": txn.installments if is_card else None,
        "card_type": "mastercard" if is_card else "",
        "card_last4digits": f"{txn.index % 10000:04d}" if is_card else "",
        "card_rejection_reason": "possible_fraud_ip" if step == "declined" else None,
        "boleto_URL": f"https://kiwify.com.br/boleto/{txn.extra['order_ref']}"
        if txn.method == "boleto" else None,
        "boleto_barcode": "34191.79001 01043.510047 91020.150008 1 9" if txn.method == "boleto"
        else None,
        "boleto_expiry_date": brt(txn.ordered_at + timedelta(days=3), "%Y-%m-%d")
        if txn.method == "boleto" else None,
        "pix_code": "00020101021226840014br.gov.bcb.pix" if txn.method == "pix" else None,
        "pix_expiration": brt(txn.ordered_at + timedelta(days=1), "%d/%m/%Y %H:%M")
        if txn.method == "pix" else None,
        "sale_type": "producer",
        "created_at": brt(txn.ordered_at),
        "updated_at": brt(at),
        "approved_date": brt(txn.approved_at) if step not in ("awaiting_payment", "declined")
        else None,
        "refunded_at": brt(refunded_at),
        "webhook_event_type": event_type or event,
        "Product": {"product_id": kiwify_product_id(txn.product_index),
                    "product_name": product.name},
        "Customer": {
            "full_name": buyer["name"], "first_name": buyer["first"], "email": buyer["email"],
            "mobile": f"+55{buyer['ddd']}{buyer['phone']}", "cnpj": buyer["document"],
            "ip": "177.10.20.30", "instagram": "", "street": "Rua Exemplo", "number": "100",
            "complement": "", "neighborhood": "Centro", "city": buyer["city"],
            "state": buyer["state"], "zipcode": buyer["zipcode"],
        },
        "Commissions": {
            "charge_amount": txn.customer_paid,
            "product_base_price": txn.base_price,
            "product_base_price_currency": cur,
            "kiwify_fee": txn.fee,
            "kiwify_fee_currency": cur,
            "settlement_amount": txn.offer_price,
            "settlement_amount_currency": cur,
            "sale_tax_rate": 0,
            "sale_tax_amount": 0,
            "commissioned_stores": stores,
            "currency": cur,
            "my_commission": txn.producer_net,
            "funds_status": None,
            "estimated_deposit_date": None,
            "deposit_date": None,
        },
        "TrackingParameters": {
            "src": txn.tracking["src"], "sck": txn.tracking["sck"],
            "utm_source": txn.tracking["utm_source"], "utm_medium": txn.tracking["utm_medium"],
            "utm_campaign": txn.tracking["utm_campaign"],
            "utm_content": txn.tracking["utm_content"], "utm_term": None,
            "s1": None, "s2": None, "s3": None,
        },
        "access_url": None,
    }
    if txn.subscription:
        sub = txn.subscription
        start = sub["started_at"]
        payload["Subscription"] = {
            "id": sub["id"],
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "next_payment": (txn.ordered_at + timedelta(days=30)).strftime(
                "%Y-%m-%dT%H:%M:%S.000Z"),
            "status": sub_status or "active",
            "plan": {"id": stable_uuid("kiwify-plan", sub["plan_id"]), "name": sub["plan_name"],
                     "frequency": "monthly",
                     "qty_charges": 0},
            "charges": {
                "completed": [{"order_id": txn.txn_id, "amount": txn.customer_paid,
                               "status": "paid", "installments": 1,
                               "card_type": "mastercard", "card_last_digits": "0000",
                               "card_first_digits": "555555",
                               "created_at": txn.ordered_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")}]
                if txn.approved_at else [],
                "future": [{"charge_date": (txn.ordered_at + timedelta(days=30)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000Z")}],
            },
        }
        payload["subscription_id"] = sub["id"]
    return payload, normalized


def kiwify_abandoned(carts: list[tuple[int, int, datetime, str]]) -> list[dict]:
    result = []
    for product_index, cust, at, cart_id in carts:
        product = DIGITAL_PRODUCTS[product_index]
        buyer = customer(cust)
        result.append({
            "checkout_link": cart_id[:7], "country": "br", "cnpj": buyer["document"],
            "created_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "email": buyer["email"],
            "id": cart_id, "name": buyer["name"], "offer_name": product.name,
            "phone": f"({buyer['ddd']}) {buyer['phone'][:5]}-{buyer['phone'][5:]}",
            "product_id": kiwify_product_id(product_index), "product_name": product.name,
            "status": "abandoned", "store_id": "Lx9StoreProd01", "subscription_plan": None,
        })
    return result


EDUZZ_STATUS_NAMES = {"1": "Aberta", "3": "Paga", "4": "Cancelada", "6": "Aguardando Reembolso",
                      "7": "Reembolsado", "8": "Em Análise", "10": "Expirada"}


def eduzz_invoice(txn: Txn, step: str, at: datetime, contract_cancel_at: datetime | None = None
                  ) -> tuple[dict, str]:
    product = DIGITAL_PRODUCTS[txn.product_index]
    buyer = customer(txn.customer)
    status, _event, normalized = raw_status("eduzz", step, txn.index)
    created = txn.ordered_at
    paid = txn.approved_at if step not in ("awaiting_payment", "declined", "expired",
                                           "under_review") else None
    due = created + timedelta(days=3)
    sub = txn.subscription
    refund_date = txn.refund_settled_at if step == "refunded" else None
    payload = {
        "type": "contract" if contract_cancel_at else "invoice",
        "pro_value": money_text(txn.producer_net),
        "trans_cod": txn.txn_id,
        "trans_checkoutid": str(txn.index),
        "trans_value": money_text(txn.offer_price),
        "trans_paid": money_text(txn.customer_paid),
        "cop_value": money_text(txn.coproducer),
        "partner_cod": "0",
        "trans_next": "0",
        "notification_url": "https://webhooks.tallyhouse.example/eduzz",
        "trans_paymentmethod": txn.method_raw,
        "trans_createdate": brt(created, "%Y%m%d"),
        "trans_paiddate": brt(paid, "%Y%m%d") if paid else "",
        "trans_duedate": brt(due, "%Y%m%d"),
        "trans_createtime": brt(created, "%H:%M:%S"),
        "trans_paidtime": brt(paid, "%H:%M:%S") if paid else "",
        "trans_status": status,
        "trans_status_name": EDUZZ_STATUS_NAMES.get(status, ""),
        "recurrence_status": "4" if contract_cancel_at else ("1" if sub else ""),
        "recurrence_status_name": "Cancelado" if contract_cancel_at else ("Em Dia" if sub else ""),
        "trans_duetime": brt(due, "%H:%M:%S"),
        "trans_items_quantity": "1",
        "trans_key": hashlib.md5(txn.txn_id.encode()).hexdigest()[:25],
        "recurrence_cod": sub["id"] if sub else "",
        "recurrence_type": "Mensal" if sub else "",
        "recurrence_plan": sub["plan_name"] if sub else "",
        "product_cod": eduzz_product_id(txn.product_index),
        "product_name": product.name,
        "product_parent_cod": "0",
        "product_refund": str(txn.warranty_days),
        "product_sku": product.sku,
        "discount_coupon_code": txn.coupon or "",
        "cus_cod": str(txn.customer),
        "cus_taxnumber": buyer["document"],
        "cus_name": buyer["name"],
        "cus_email": buyer["email"],
        "cus_tel": f"0{buyer['ddd']}{buyer['phone']}",
        "cus_tel2": "",
        "cus_cel": f"0{buyer['ddd']}{buyer['phone']}",
        "cus_address": "Rua Exemplo",
        "refund_type": "total" if refund_date else "",
        "cus_address_number": "100",
        "cus_address_country": "Brasil",
        "cus_address_district": "Centro",
        "cus_address_comp": "",
        "cus_address_city": buyer["city"],
        "cus_address_state": buyer["state"],
        "cus_address_zip_code": buyer["zipcode"],
        "recurrence_startdate": brt(sub["started_at"], "%Y-%m-%d %H:%M:%S") if sub else "",
        "recurrence_interval": "1" if sub else "",
        "recurrence_interval_type": "month" if sub else "",
        "recurrence_count": str(sub["recurrence"]) if sub else "",
        "recurrence_first_payment": "1" if sub and sub["recurrence"] == 1 else "0",
        "aff_cod": str(txn.tracking["affiliate_id"]) if txn.affiliate else "",
        "aff_name": txn.tracking["affiliate_name"] if txn.affiliate else "",
        "aff_email": f"afiliado{txn.tracking['affiliate_id']}@parceiro.com.br"
        if txn.affiliate else "",
        "aff_document_number": f"{txn.tracking['affiliate_id'] * 7_919:011d}"
        if txn.affiliate else "",
        "aff_value": money_text(txn.affiliate),
        "tracker_trk": txn.tracking["sck"] or "",
        "tracker_utm_source": txn.tracking["utm_source"] or "",
        "tracker_utm_content": txn.tracking["utm_content"] or "",
        "tracker_utm_medium": txn.tracking["utm_medium"] or "",
        "tracker_utm_campaign": txn.tracking["utm_campaign"] or "",
        "utm_source": txn.tracking["utm_source"] or "",
        "utm_content": txn.tracking["utm_content"] or "",
        "utm_medium": txn.tracking["utm_medium"] or "",
        "utm_campaign": txn.tracking["utm_campaign"] or "",
        "sku_reference": product.sku,
        "eduzz_value": money_text(txn.fee),
        "other_values": "0.00",
        "trans_items[0][item_id]": str(txn.index),
        "trans_items[0][item_name]": product.name,
        "trans_items[0][item_value]": money_text(txn.base_price),
        "trans_items[0][item_coupon_code]": txn.coupon or "",
        "trans_items[0][item_coupon_value]": money_text(txn.base_price - txn.offer_price),
        "trans_items[0][item_product_id]": eduzz_product_id(txn.product_index),
        "trans_items[0][item_product_name]": product.name,
        "trans_items[0][item_product_refund]": str(txn.warranty_days),
        "trans_items[0][item_eduzz_value]": money_text(txn.fee),
        "trans_items[0][producer_id]": "27270338",
        "trans_items[0][item_product_sku_reference]": product.sku,
        "trans_items[0][item_product_partner_cod]": "0",
        "trans_items[0][item_product_chargetype]": "A" if sub else "N",
        "trans_orderid": hashlib.md5(("order" + txn.txn_id).encode()).hexdigest(),
        "trans_currency": txn.currency,
        "request_token": hashlib.md5(("tok" + txn.txn_id).encode()).hexdigest()[:10],
        "billet_url": f"https://sun.eduzz.com/c_{txn.txn_id}" if txn.method == "boleto" else "",
        "page_checkout_url": f"https://sun.eduzz.com/{eduzz_product_id(txn.product_index)}",
        "recurrence_canceled_at": brt(contract_cancel_at, "%Y-%m-%d %H:%M:%S")
        if contract_cancel_at else "",
        "product_chargetype": "A" if sub else "N",
        "refund_date": brt(refund_date, "%Y-%m-%d") if refund_date else "",
        "pro_cod": "27270338",
        "pro_document_number": "12345678000190",
        "pro_name": "Produtora Exemplo",
        "pro_email": "financeiro@produtor.com.br",
        "cus_apikey": hashlib.md5(buyer["email"].encode()).hexdigest()[:10],
        "student_cod": str(txn.customer),
        "student_taxnumber": buyer["document"],
        "student_name": buyer["name"],
        "student_email": buyer["email"],
        "student_tel": f"0{buyer['ddd']}{buyer['phone']}",
        "student_tel2": "",
        "student_cel": f"0{buyer['ddd']}{buyer['phone']}",
        "tracker_trk2": txn.tracking["src"] or "",
        "tracker_trk3": "",
        "trans_barcode": "23790.12345 60000.000003 00000.000000 1 00000000000000"
        if txn.method == "boleto" else "",
        "trans_bankslip": f"https://eduzz.com/boleto/{txn.txn_id}" if txn.method == "boleto"
        else "",
        "trans_job_id": "",
        "trans_job_status": "",
        "origin_secret": "",
        "api_key": "",
    }
    return payload, normalized


def eduzz_abandonment(product_index: int, cust: int, at: datetime, identifier: str) -> dict:
    product = DIGITAL_PRODUCTS[product_index]
    buyer = customer(cust)
    return {
        "type": "abandonment", "identifier": identifier,
        "cartAccessedAt": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "checkoutUrl": f"https://sun.eduzz.com/{eduzz_product_id(product_index)}",
        "invoiceId": "", "product[id]": eduzz_product_id(product_index),
        "product[title]": product.name, "campaign[id]": "", "campaign[key]": "",
        "affiliate[id]": "", "affiliate[name]": "", "customer[name]": buyer["name"],
        "customer[phone]": f"0{buyer['ddd']}{buyer['phone']}",
        "customer[email]": buyer["email"], "producerId": "27270338",
    }


def braspag_payment(txn: Txn, step: str, at: datetime, voided_at: datetime | None = None
                    ) -> tuple[dict, str]:
    """A Braspag sale query snapshot of a PIX payment, as the connector stores it."""
    status, _event, normalized = raw_status("pix", step, txn.index)
    buyer = customer(txn.customer)
    pix_amount = txn.extra["pix_amount"]
    payment: dict = {
        "PaymentId": txn.extra["payment_id"],
        "Type": "Pix",
        "Provider": "Cielo30",
        "AcquirerTransactionId": hashlib.md5(txn.extra["payment_id"].encode()).hexdigest(),
        "ProofOfSale": f"{txn.index % 1000000:06d}",
        "QrCodeExpiration": 86400,
        "SentOrderId": txn.txn_id,
        "Amount": pix_amount,
        "ReceivedDate": brt(txn.ordered_at, "%Y-%m-%d %H:%M:%S"),
        "Status": int(status),
        "Currency": "BRL",
        "Country": "BRA",
        "ProviderReturnCode": "0",
        "ProviderReturnMessage": "Pix gerado com sucesso",
    }
    approved = txn.approved_at
    if approved is not None and step != "awaiting_payment":
        payment["CapturedAmount"] = pix_amount
        payment["CapturedDate"] = brt(approved, "%Y-%m-%d %H:%M:%S")
    if step == "cancelled":
        payment["VoidedAmount"] = 0
        payment["VoidedDate"] = brt(at, "%Y-%m-%d %H:%M:%S")
        payment["ProviderReturnMessage"] = "Pix expirado"
    if step in ("refunded", "partially_refunded") and txn.extra.get("refund_method") != "voucher":
        payment["VoidedAmount"] = txn.refund_amount
        payment["VoidedDate"] = brt(voided_at or at, "%Y-%m-%d %H:%M:%S")
        payment["ProviderReturnMessage"] = "Reembolso efetuado"
    if step == "refunded" and txn.extra.get("refund_method") == "voucher":
        payment["ProviderReturnMessage"] = "Reembolso via vale-presente"
        payment["VoidedDate"] = brt(at, "%Y-%m-%d %H:%M:%S")
        payment["VoidedAmount"] = 0
    split = txn.extra.get("split")
    if split:
        payment["DoSplit"] = True
        payment["SplitPayments"] = [{
            "SubordinateMerchantId": split["subordinate"],
            "Amount": split["base"],
            "Fares": {"Mdr": split["mdr"], "Fee": split["fee"]},
            "Splits": [
                {"MerchantId": split["subordinate"], "Amount": split["subordinate_amount"]},
                {"MerchantId": split["master"], "Amount": split["master_amount"]},
            ],
        }]
    return {
        "MerchantOrderId": txn.txn_id,
        "Customer": {"Name": buyer["name"], "Identity": buyer["document"],
                     "IdentityType": "CPF", "Email": buyer["email"]},
        "Payment": payment,
    }, normalized
