"""The export layouts of common shop platforms, recognised by their header and mapped without asking.

    python -c "from lifecycle_core.layouts import recognise; \
print(recognise(['Name', 'Financial Status', 'Lineitem quantity', 'Lineitem name', 'Created at']).label)"

Each layout names the columns a platform writes (docs/data.md lists them), how its orders are laid out
(order fields only on an order's first line, ids that may be empty) and which orders are not sales
(cancelled, voided, closed, unpaid) or came back (refunded). ``layout_apply`` carries these out.
Headers are compared normalised (case, spaces, punctuation), so column order, extra columns and
trailing spaces do not matter.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .mapping import normalize_header

ORDERS = "orders"  # an order-level export (one row per order, no products): only joined to its lines
# Columns made when one cell lists an order's items ("Product(s) item", "Product(s) quantity").
ITEM_ID, ITEM_NAME, ITEM_QUANTITY = "item", "item name", "quantity"


@dataclass(frozen=True)
class StatusRule:
    """Rows whose ``column`` holds one of ``exclude`` are not sales; ``returned`` ones came back (the
    sale is kept and its units are counted as returned); ``any_value``: any value excludes (Cancelled at).
    Values are compared normalised, like headers."""

    column: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    returned: tuple[str, ...] = ()
    any_value: bool = False
    if_empty: bool = False  # an empty value excludes (eBay: no Paid On Date on any line = not paid)
    contains: bool = False  # a value containing one of the words counts ("退款" in "退款 (买家申请)")


@dataclass(frozen=True)
class Layout:
    key: str
    label: str
    table: str  # "transactions", "products" or ORDERS
    signature: tuple[tuple[str, ...], ...]  # every group must be present (any one of its spellings)
    fields: dict[str, tuple[str, ...]]  # canonical field -> header candidates, first present wins
    product_id: tuple[str, ...] = ()  # id fallbacks: per row, the first of these that is not empty
    order_key: tuple[str, ...] = ()  # the order number (products: the product's handle)
    fill_down: tuple[str, ...] = ()  # written on an order's first row only: filled to its other rows
    key_fill_down: bool = False  # the order number itself is on the first row only (rows of an order follow it)
    status: tuple[StatusRule, ...] = ()
    keep_if_any: tuple[str, ...] = ()  # rows with all of these empty are not items (image rows, totals)
    drop_if_any: tuple[str, ...] = ()  # rows with any of these set are not items (store-view rows, children)
    inventory: tuple[str, ...] = ()  # a stock column: an inventory table is read from the same file
    html: tuple[str, ...] = ()  # columns holding HTML: tags removed, entities decoded
    join: str = ""  # the ORDERS layout whose columns (date, status) this file takes by order number
    join_columns: tuple[str, ...] = ()  # what the join takes from that file
    needs: str = ""  # what to add when this file alone cannot make a dataset
    alone: str = ""  # what is missed when the file comes without its join partner (but can stand alone)
    variant_name: tuple[str, ...] = ()  # option columns: "Title - Blue / M", as orders name a variant
    price_is_line_total: bool = False  # the price column is quantity x unit price (Amazon's item-price)
    net_of: tuple[str, ...] = ()  # quantities subtracted from the quantity (Magento's qty_canceled)
    returned_quantity: tuple[str, ...] = ()  # units that came back, per line (Magento's qty_refunded)
    items_column: tuple[str, ...] = ()  # a cell listing an order's items, "2× Hoodie, 1× Beanie" (WooCommerce)
    parent: tuple[str, ...] = ()  # a variation's parent ("id:12" or the parent's SKU): its text fills the child's
    date_order: str = ""  # how the platform writes ambiguous dates ("month-first": 03/05/24 is March 5)
    doc_url: str = ""

    @functools.cached_property
    def normalised_signature(self) -> tuple[frozenset[str], ...]:
        return tuple(frozenset(normalize_header(h) for h in group) for group in self.signature)

    def matches(self, headers: frozenset[str]) -> bool:
        return all(group & headers for group in self.normalised_signature)


def find(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    """The first of ``candidates`` that ``columns`` has (compared normalised), as the file spells it."""
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(normalize_header(c), c)
    for cand in candidates:
        hit = by_norm.get(normalize_header(cand))
        if hit is not None:
            return hit
    return None


def _g(*names: str) -> tuple[str, ...]:
    return names


# Status words, as the platforms write them (compared normalised: "Partially refunded" == "partially_refunded").
_CANCELLED_EN = ("cancelled", "canceled", "voided", "void", "failed", "declined", "expired", "draft", "trash")

# WooCommerce translates its exporter's column names into the site's language (WordPress.org language
# packs, checked against exports in de, fr, es, it, nl, pt_BR, zh_CN, ja); each English label with its
# translations.
_WOO = {
    "ID": _g("ID"),
    "Type": _g("Type", "Typ", "Tipo", "类型", "タイプ"),
    "SKU": _g("SKU", "Artikelnummer", "UGS", "Référence", "COD"),
    "Name": _g("Name", "Nom", "Nombre", "Nome", "Naam", "名称", "名前"),
    "Published": _g(
        "Published", "Veröffentlicht", "Publié", "Publicado", "Pubblicato", "Gepubliceerd", "已发布", "公開済み"
    ),
    "Short description": _g(
        "Short description",
        "Kurzbeschreibung",
        "Description courte",
        "Descripción corta",
        "Breve descrizione",
        "Descrizione breve",
        "Korte beschrijving",
        "Korte omschrijving",
        "Descrição curta",
        "简短描述",
        "簡単な説明",
    ),
    "Description": _g(
        "Description", "Beschreibung", "Descripción", "Descrizione", "Beschrijving", "Descrição", "描述", "説明"
    ),
    "Stock": _g("Stock", "Lager", "Bestand", "Inventario", "Magazzino", "Voorraad", "Estoque", "库存", "在庫"),
    "Sale price": _g(
        "Sale price",
        "Angebotspreis",
        "Tarif promo",
        "Prix promo",
        "Precio rebajado",
        "Prezzo in offerta",
        "Actieprijs",
        "Preço promocional",
        "促销价格",
        "セール価格",
    ),
    "Regular price": _g(
        "Regular price",
        "Regulärer Preis",
        "Tarif régulier",
        "Prix régulier",
        "Prix de base",
        "Precio normal",
        "Prezzo di listino",
        "Reguliere prijs",
        "Preço",
        "常规售价",
        "標準価格",
    ),
    "Categories": _g(
        "Categories",
        "Kategorien",
        "Catégories",
        "Categorías",
        "Categorie",
        "Categorieën",
        "Categorias",
        "分类",
        "カテゴリー",
    ),
    "Tags": _g("Tags", "Schlagwörter", "Étiquettes", "Etiquetas", "Tag", "Etichette", "标签", "タグ"),
    "Parent": _g(
        "Parent",
        "Übergeordnetes Produkt",
        "Superior",
        "Genitore",
        "Hoofd",
        "Ascendente",
        "Produto ascendente",
        "父级",
        "親",
    ),
}
# WooCommerce Analytics > Orders, in English, German, French and Chinese.
_WOO_ORDERS = {
    "Date": _g("Date", "Datum", "日期"),
    "Order #": _g("Order #", "Bestellnummer #", "Commande n°", "订单号"),
    "Status": _g("Status", "État", "状态"),
    "Customer": _g("Customer", "Kunde", "Client", "客户"),
    "Product(s)": _g("Product(s)", "Produkt(e)", "Produit(s)", "产品"),
    "Items sold": _g("Items sold", "Verkaufte Artikel", "Articles vendus", "售出项目"),
}
_WOO_NOT_SOLD = (
    *("storniert", "fehlgeschlagen", "zahlung ausstehend", "annulée", "échouée", "en attente de paiement"),
    *("已取消", "失败", "待付款", "等待付款"),
)
_WOO_REFUNDED = ("refunded", "rückerstattet", "remboursée", "已退款")

LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "shopify_orders",
        "Shopify orders export",
        "transactions",
        signature=(_g("Name"), _g("Financial Status"), _g("Lineitem quantity"), _g("Lineitem name")),
        fields={
            "invoice_id": _g("Name"),
            "timestamp": _g("Created at", "Paid at"),
            "quantity": _g("Lineitem quantity"),
            "price": _g("Lineitem price"),
            "description": _g("Lineitem name"),
            "customer_id": _g("Email"),
            "country": _g("Shipping Country", "Billing Country"),
        },
        product_id=_g("Lineitem sku", "Lineitem name"),
        order_key=_g("Name"),
        # Shopify writes the order's status, payment and addresses on its first line item only.
        fill_down=_g(
            "Email",
            "Financial Status",
            "Paid at",
            "Fulfillment Status",
            "Created at",
            "Cancelled at",
            "Currency",
            "Billing Country",
            "Shipping Country",
            "Refunded Amount",
        ),
        status=(
            # "pending" stays: cash-on-delivery and bank-transfer orders are pending until marked paid.
            # A cancelled order is not a sale even when its payment was refunded: cancellation decides first.
            StatusRule(_g("Cancelled at"), any_value=True),
            StatusRule(_g("Financial Status"), exclude=("voided", "expired"), returned=("refunded",)),
        ),
        doc_url="https://help.shopify.com/en/manual/fulfillment/managing-orders/exporting-orders",
    ),
    Layout(
        "shopify_products",
        "Shopify products export",
        "products",
        signature=(_g("Handle", "URL handle"), _g("Title"), _g("Variant Price", "Variant SKU", "Price", "SKU")),
        fields={
            "title": _g("Title"),
            "description": _g("Body (HTML)", "Body HTML", "Description"),
            "category": _g("Product Category", "Type", "Product Type"),
            "brand": _g("Vendor"),
            "price": _g("Variant Price", "Price"),
            "unit_cost": _g("Cost per item"),
        },
        product_id=_g("Variant SKU", "SKU", "Handle", "URL handle"),
        order_key=_g("Handle", "URL handle"),
        # A product's extra variant rows leave its title, description and vendor empty.
        fill_down=_g(
            "Title", "Body (HTML)", "Body HTML", "Description", "Vendor", "Product Category", "Type", "Tags", "Status"
        ),
        keep_if_any=_g("Variant SKU", "Variant Price", "Option1 Value", "SKU", "Price"),  # image-only rows go
        inventory=_g("Variant Inventory Qty", "Inventory quantity"),
        html=_g("Body (HTML)", "Body HTML", "Description"),
        variant_name=_g("Option1 Value", "Option2 Value", "Option3 Value"),
        needs="add your Shopify orders export (Orders > Export) for the sales",
        doc_url="https://help.shopify.com/en/manual/products/import-export/using-csv",
    ),
    Layout(
        "woocommerce_products",
        "WooCommerce products export",
        "products",
        signature=tuple(_WOO[h] for h in ("ID", "Type", "SKU", "Name", "Regular price", "Published")),
        fields={
            "title": _WOO["Name"],
            "description": _WOO["Description"] + _WOO["Short description"],
            "category": _WOO["Categories"],
            "price": _WOO["Regular price"] + _WOO["Sale price"],
            "unit_cost": _g("Cost of goods"),
        },
        product_id=_WOO["SKU"] + _WOO["ID"],
        # Variations are the products sold; their variable parent holds the description and categories.
        parent=_WOO["Parent"],
        fill_down=_WOO["Description"] + _WOO["Short description"] + _WOO["Categories"] + _WOO["Tags"],
        inventory=_WOO["Stock"],
        html=_WOO["Description"] + _WOO["Short description"],
        needs="add your WooCommerce orders (line items: order, date, product, quantity) for the sales",
        doc_url="https://woocommerce.com/document/product-csv-importer-exporter/",
    ),
    Layout(
        "woocommerce_orders",
        "WooCommerce orders export (line items)",
        "transactions",
        signature=(
            _g("Order Number", "Order ID"),
            _g("Order Status"),
            _g("Order Date"),
            _g("Item Name", "Product Name"),
            _g("Quantity (- Refund)", "Quantity", "Qty"),
        ),
        fields={
            "invoice_id": _g("Order Number", "Order ID"),
            "timestamp": _g("Order Date"),
            # "Quantity (- Refund)" is already net of refunds: a refunded line reads 0 and is left out.
            "quantity": _g("Quantity (- Refund)", "Quantity", "Qty"),
            "price": _g("Item Cost", "Item Price", "Product Price"),
            "description": _g("Item Name", "Product Name"),
            "customer_id": _g("Customer User ID", "Customer ID", "Email (Billing)"),
            "country": _g("Country Code (Billing)", "Country Code (Shipping)"),
        },
        product_id=_g("SKU", "Product Id", "Product ID", "Item Name", "Product Name"),
        order_key=_g("Order Number", "Order ID"),
        # With "populate other columns" off, order fields (the order number too) are on its first row only.
        key_fill_down=True,
        fill_down=_g(
            "Order Status",
            "Order Date",
            "Customer User ID",
            "Email (Billing)",
            "Country Code (Shipping)",
            "Country Code (Billing)",
        ),
        status=(
            StatusRule(
                _g("Order Status"),
                exclude=(
                    *_CANCELLED_EN,
                    "pending",
                    "pending payment",
                    "wc-cancelled",
                    "wc-failed",
                    "wc-pending",
                    "checkout-draft",
                ),
            ),
        ),
        doc_url="https://wordpress.org/plugins/woo-order-export-lite/",
    ),
    Layout(
        "woocommerce_analytics_orders",
        "WooCommerce Analytics orders report",
        "transactions",
        signature=tuple(_WOO_ORDERS[h] for h in ("Date", "Order #", "Status", "Product(s)", "Items sold")),
        fields={
            "invoice_id": _WOO_ORDERS["Order #"],
            "timestamp": _WOO_ORDERS["Date"],
            "quantity": tuple(f"{h} {ITEM_QUANTITY}" for h in _WOO_ORDERS["Product(s)"]),
            "description": tuple(f"{h} {ITEM_NAME}" for h in _WOO_ORDERS["Product(s)"]),
            "customer_id": _WOO_ORDERS["Customer"],
        },
        # One row per order; "2× Hoodie, 1× Beanie" is split into one line per item, keyed by its name.
        product_id=tuple(f"{h} {ITEM_ID}" for h in _WOO_ORDERS["Product(s)"]),
        items_column=_WOO_ORDERS["Product(s)"],
        status=(
            StatusRule(
                _WOO_ORDERS["Status"],
                exclude=(*_CANCELLED_EN, "pending", "pending payment", "checkout-draft", *_WOO_NOT_SOLD),
                returned=_WOO_REFUNDED,
            ),
        ),
        doc_url="https://woocommerce.com/document/woocommerce-analytics/orders-report/",
    ),
    Layout(
        "etsy_order_items",
        "Etsy sold order items",
        "transactions",
        signature=(_g("Sale Date"), _g("Item Name"), _g("Listing ID"), _g("Order ID"), _g("Quantity")),
        fields={
            "invoice_id": _g("Order ID"),
            "timestamp": _g("Sale Date", "Date Paid"),
            "quantity": _g("Quantity"),
            "price": _g("Price"),
            "description": _g("Item Name"),
            "customer_id": _g("Buyer", "Buyer User ID"),
            "country": _g("Ship Country"),
        },
        product_id=_g("SKU", "Listing ID", "Item Name"),
        order_key=_g("Order ID"),
        date_order="month-first",  # "03/02/24" is March 2
        join="etsy_orders",
        join_columns=_g("Status"),
        alone="cancelled and refunded orders are only marked in the Etsy sold orders export (EtsySoldOrders); "
        "add it with this file to leave them out",
        status=(StatusRule(_g("Status"), exclude=("canceled", "cancelled"), returned=("refunded", "fully refunded")),),
        doc_url="https://help.etsy.com/hc/en-us/articles/360000343508",
    ),
    Layout(
        "etsy_orders",
        "Etsy sold orders",
        ORDERS,
        signature=(_g("Sale Date"), _g("Order ID"), _g("Number of Items"), _g("Order Total", "Order Value")),
        fields={},
        order_key=_g("Order ID"),
        needs="add the Etsy sold order items export (Shop Manager > Settings > Options > Download Data, "
        "type Order Items): it has the products and quantities",
    ),
    Layout(
        "amazon_orders",
        "Amazon Seller Central order report",
        "transactions",
        signature=(_g("amazon-order-id"), _g("purchase-date"), _g("sku", "asin"), _g("quantity", "quantity-purchased")),
        fields={
            "invoice_id": _g("amazon-order-id"),
            "timestamp": _g("purchase-date"),
            "quantity": _g("quantity", "quantity-purchased"),
            "price": _g("item-price"),
            "description": _g("product-name"),
            "country": _g("ship-country"),
        },
        product_id=_g("sku", "asin", "product-name"),
        order_key=_g("amazon-order-id"),
        price_is_line_total=True,  # item-price is the line's total
        status=(
            StatusRule(_g("order-status"), exclude=("cancelled", "canceled")),
            # An order can ship while one of its lines is cancelled.
            StatusRule(_g("item-status"), exclude=("cancelled", "canceled")),
        ),
        doc_url="https://developer-docs.amazon.com/sp-api/docs/report-type-values-order",
    ),
    Layout(
        "ebay_orders",
        "eBay orders report",
        "transactions",
        signature=(
            _g("Sales Record Number", "Verkaufsprotokollnummer"),
            _g("Order Number", "Order ID", "Bestellnummer"),
            _g("Item Title", "Artikelbezeichnung"),
            _g("Quantity", "Anzahl", "Stückzahl"),
        ),
        fields={
            "invoice_id": _g("Order Number", "Order ID", "Bestellnummer", "Sales Record Number"),
            "timestamp": _g("Sale Date", "Order Date", "Verkauft am", "Paid On Date"),
            "quantity": _g("Quantity", "Anzahl", "Stückzahl"),
            "price": _g("Sold For", "Item Price", "Verkauft für"),
            "description": _g("Item Title", "Artikelbezeichnung"),
            "customer_id": _g("Buyer Username", "Buyer User ID", "Nutzername des Käufers"),
            "country": _g("Ship To Country", "Post To Country", "Buyer Country"),
        },
        product_id=_g("Custom Label", "Bestandseinheit", "Item Number", "Artikelnummer", "Item Title"),
        order_key=_g("Sales Record Number", "Verkaufsprotokollnummer"),
        # A multi-item order is a summary row (no item number; its Sold For is the order's total) and then
        # one row per item: the summary's dates and buyer are copied to the items, then it is dropped.
        fill_down=_g(
            "Order Number",
            "Order ID",
            "Bestellnummer",
            "Sale Date",
            "Order Date",
            "Verkauft am",
            "Paid On Date",
            "Zahlungsdatum",
            "Buyer Username",
            "Buyer User ID",
            "Nutzername des Käufers",
            "Ship To Country",
            "Post To Country",
            "Buyer Country",
        ),
        keep_if_any=_g("Item Number", "Artikelnummer"),
        status=(StatusRule(_g("Paid On Date", "Zahlungsdatum"), if_empty=True),),
        doc_url="https://www.ebay.com/help/selling/managing-orders/downloading-reports",
    ),
    Layout(
        "magento_catalog",
        "Magento 2 catalog export",
        "products",
        signature=(_g("sku"), _g("store_view_code"), _g("attribute_set_code"), _g("product_type"), _g("name")),
        fields={
            "title": _g("name"),
            "description": _g("description", "short_description"),
            "category": _g("categories"),
            "price": _g("price"),
            "launch_date": _g("created_at"),
        },
        product_id=_g("sku"),
        drop_if_any=_g("store_view_code"),  # store-view rows translate a product already listed
        date_order="month-first",  # the admin's short locale date: "3/5/24" in en_US
        inventory=_g("qty"),
        html=_g("description", "short_description"),
        needs="add the order items (a sales_order_item export: sku, created_at, qty_ordered) for the sales",
        doc_url="https://experienceleague.adobe.com/en/docs/commerce-admin/systems/data-transfer/data-attributes-product",
    ),
    Layout(
        "magento_order_items",
        "Magento 2 order items",
        "transactions",
        signature=(_g("sku"), _g("qty_ordered"), _g("order_id"), _g("created_at")),
        fields={
            "invoice_id": _g("order_id"),
            "timestamp": _g("created_at"),
            "quantity": _g("qty_ordered"),
            "price": _g("price", "base_price"),
            "description": _g("name"),
        },
        product_id=_g("sku", "product_id", "name"),
        drop_if_any=_g("parent_item_id"),  # a configurable's child repeats its parent's line
        net_of=_g("qty_canceled"),
        returned_quantity=_g("qty_refunded"),
        doc_url="https://developer.adobe.com/commerce/webapi/rest/tutorials/orders/order-create-order/",
    ),
    Layout(
        "magento_orders",
        "Magento 2 orders grid export",
        ORDERS,
        signature=(
            _g("ID"),
            _g("Purchase Point"),
            _g("Purchase Date"),
            _g("Grand Total (Purchased)", "Grand Total (Base)"),
            _g("Status"),
        ),
        fields={},
        needs="the orders grid has no products: export the order items (sales_order_item: sku, created_at, "
        "qty_ordered) for the sales",
    ),
    Layout(
        "taobao_items",
        "Taobao/Tmall 宝贝报表 (order items)",
        "transactions",
        signature=(_g("订单编号"), _g("标题", "宝贝标题"), _g("购买数量"), _g("商家编码", "外部系统编号")),
        fields={
            "invoice_id": _g("订单编号"),
            "timestamp": _g("订单创建时间", "订单付款时间", "付款时间"),
            "quantity": _g("购买数量"),
            "price": _g("价格", "单价"),
            "description": _g("标题", "宝贝标题"),
            "customer_id": _g("买家会员名", "买家昵称"),
        },
        product_id=_g("商家编码", "外部系统编号", "商品ID", "宝贝ID", "标题", "宝贝标题"),
        order_key=_g("订单编号"),
        join="taobao_orders",
        join_columns=_g("订单创建时间", "订单付款时间", "买家会员名", "订单状态", "订单关闭原因"),
        status=(
            # A paid order closed because it was refunded: 交易关闭 with 订单关闭原因 退款.
            StatusRule(_g("订单关闭原因"), returned=("退款",), contains=True),
            StatusRule(
                _g("订单状态"),
                exclude=("交易关闭", "交易被淘宝关闭", "等待买家付款", "没有创建支付宝交易"),
                returned=("退款成功", "已退款"),
            ),
        ),
        needs="add the 订单报表 (orders export) of the same period: its 订单创建时间 dates the lines, "
        "joined by 订单编号",
    ),
    Layout(
        "taobao_orders",
        "Taobao/Tmall 订单报表 (orders)",
        ORDERS,
        signature=(_g("订单编号"), _g("订单状态"), _g("订单创建时间"), _g("买家会员名", "买家实际支付金额")),
        fields={},
        order_key=_g("订单编号"),
        needs="add the 宝贝报表 (order items export) of the same period: it has the products and quantities",
    ),
    Layout(
        "jd_orders",
        "JD POP orders export",
        "transactions",
        signature=(_g("订单号"), _g("商品ID", "商品编号"), _g("订购数量", "商品数量"), _g("下单时间")),
        fields={
            "invoice_id": _g("订单号"),
            "timestamp": _g("下单时间", "付款确认时间"),
            "quantity": _g("订购数量", "商品数量"),
            "price": _g("京东价", "商品单价", "单价"),
            "description": _g("商品名称"),
            "customer_id": _g("下单帐号", "下单账号"),
        },
        product_id=_g("货号", "商家SKU", "商品ID", "商品编号", "商品名称"),
        order_key=_g("订单号"),
        fill_down=_g("下单时间", "订单状态", "下单帐号", "下单账号"),
        status=(StatusRule(_g("订单状态"), exclude=("取消", "已取消", "锁定", "已锁定", "删除", "已删除")),),
    ),
    Layout(
        "pinduoduo_orders",
        "Pinduoduo orders export",
        "transactions",
        signature=(_g("订单号"), _g("订单状态"), _g("商品数量(件)", "商品数量"), _g("商品id", "商品ID")),
        fields={
            "invoice_id": _g("订单号"),
            "timestamp": _g("支付时间", "拼单成功时间", "订单成交时间"),
            "quantity": _g("商品数量(件)", "商品数量"),
            "price": _g("商品总价(元)"),
            "description": _g("商品", "商品名称"),
        },
        product_id=_g("商家编码-SKU维度", "商家编码-商品维度", "样式ID", "商品id", "商品"),
        order_key=_g("订单号"),
        price_is_line_total=True,  # 商品总价 is the order's goods total: one SKU per order
        status=(
            # A refund is written in the status: refunded before shipping was never a sale.
            StatusRule(
                _g("订单状态"),
                exclude=("已取消", "待支付", "未支付", "未发货，退款成功"),
                returned=("已发货，退款成功", "已签收，退款成功"),
            ),
            StatusRule(_g("售后状态"), returned=("退款成功", "退货退款成功")),
        ),
    ),
)


def recognise(columns: list[str]) -> Layout | None:
    """The platform layout ``columns`` are, or None. When several match, the most specific (the longest
    signature) wins: a Taobao items report with dates copied in is still the items report."""
    headers = frozenset(normalize_header(c) for c in columns)
    hits = [layout for layout in LAYOUTS if layout.matches(headers)]
    if not hits:
        return None
    return max(hits, key=lambda layout: (len(layout.signature), -LAYOUTS.index(layout)))


@dataclass
class Applied:
    """What applying a layout to one file did, for the report and the Data page."""

    layout: Layout
    excluded: dict[str, int] = field(default_factory=dict)  # "Financial Status = voided" -> rows
    returned: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)  # column -> cells filled from the order's first row
    id_fallbacks: dict[str, int] = field(default_factory=dict)  # fallback column -> rows keyed by it
    dropped: dict[str, int] = field(default_factory=dict)  # why -> rows that are not items
    cancelled_units: dict[str, float] = field(default_factory=dict)  # column -> units taken off the quantities
