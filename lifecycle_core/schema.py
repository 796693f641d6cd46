"""Canonical tables and their fields, with the English and Chinese column names merchants use.

    python -c "from lifecycle_core.schema import TABLES; print(list(TABLES))"

Ingestion maps a file's columns onto one of these tables; nothing downstream sees raw headers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Field kinds drive parsing and validation in ingest.py.
ID, TEXT, DATE, INT, FLOAT, STAGE = "id", "text", "date", "int", "float", "stage"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    required: bool = False
    synonyms: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    doc: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    fields: tuple[Field, ...]
    doc: str
    # Words in a file name that hint at this table ("reviews_2024.csv", "库存.xlsx").
    file_hints: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"table {self.name!r} has no field {name!r}; fields: {[f.name for f in self.fields]}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_PRODUCT_ID = Field(
    "product_id",
    ID,
    True,
    (
        "product_id",
        "product id",
        "productid",
        "product code",
        "sku",
        "sku id",
        "item id",
        "item",
        "item code",
        "item number",
        "stockcode",
        "stock code",
        "article",
        "article number",
        "asin",
        "商品编号",
        "商品id",
        "商品编码",
        "商品代码",
        "货号",
        "产品编号",
        "产品id",
        "产品编码",
        "sku编码",
        "款号",
        "物料编号",
        # German, French, Spanish, Italian, Dutch shop systems.
        "artikelnummer",
        "artikelnr",
        "artikel nr",
        "référence",
        "reference",
        "référence produit",
        "referencia",
        "código",
        "codice articolo",
        "artikelcode",
    ),
    doc="the product key; the same id in every table",
)


def _date(name: str, required: bool, extra: tuple[str, ...] = ()) -> Field:
    return Field(
        name,
        DATE,
        required,
        (
            *extra,
            "date",
            "day",
            "week",
            "period",
            "week start",
            "order date",
            "sales date",
            "日期",
            "时间",
            "周",
            "统计日期",
            "销售日期",
            # Monthly and weekly exports name the period rather than a date.
            "month",
            "year month",
            "yearmonth",
            "sales month",
            "month start",
            "period start",
            "week ending",
            "week end",
            "月份",
            "年月",
            "统计月份",
            "销售月份",
            "统计周期",
            "周期",
            "datum",
            "verkaufsdatum",
            "fecha",
            "data",
            "monat",
            "mois",
            "mes",
        ),
        doc="ISO (2024-03-05), day-first (05/03/2024), a month (2024-03, Mar 2024, 2024年3月) or an Excel serial number",
    )


# A sales or order file's product name and category columns, in the languages of the products table.
# "Product" and "article" in the shop languages: a product's name in products, sales and order lines.
PRODUCT_WORDS = ("produkt", "artikel", "produit", "libellé", "producto", "artículo", "prodotto", "articolo")
_SHOP_TITLES = (
    *("title", "product name", "name", "商品名称", "品名", "bezeichnung", "artikelbezeichnung", "produktname"),
    *("produkt", "artikel", "désignation", "produit", "nom du produit", "libellé", "producto"),
    *("nombre del producto", "artículo", "prodotto", "nome prodotto", "articolo", "productnaam"),
)
_SHOP_CATEGORIES = (
    *("category", "类目", "品类", "分类", "warengruppe", "kategorie", "artikelgruppe", "catégorie", "famille"),
    *("categoría", "categoria", "familia", "productgroep"),
)

PRODUCTS = TableSpec(
    "products",
    (
        _PRODUCT_ID,
        Field(
            "title",
            TEXT,
            True,
            (
                "title",
                "product name",
                "name",
                "product title",
                "item name",
                "product",
                "商品名称",
                "商品名",
                "产品名称",
                "标题",
                "商品标题",
                "品名",
                "名称",
                "bezeichnung",
                "artikelbezeichnung",
                "produktname",
                "nom du produit",
                "désignation",
                "nombre del producto",
                "nome prodotto",
                "productnaam",
                "artikelname",
                *PRODUCT_WORDS,
            ),
            doc="the product's name as shown to shoppers",
        ),
        Field(
            "description",
            TEXT,
            False,
            (
                "description",
                "details",
                "product description",
                "long description",
                "商品描述",
                "描述",
                "详情",
                "商品详情",
                "卖点",
                "beschreibung",
                "artikelbeschreibung",
                "produktbeschreibung",
                "langtext",
                "description du produit",
                "descriptif",
                "descripción",
                "descripcion",
                "descrizione",
                "omschrijving",
            ),
        ),
        Field(
            "category",
            TEXT,
            False,
            (
                "category",
                "product category",
                "department",
                "product type",
                "类目",
                "品类",
                "分类",
                "商品类目",
                "一级类目",
                "warengruppe",
                "kategorie",
                "produktkategorie",
                "artikelgruppe",
                "catégorie",
                "categorie",
                "famille",
                "rayon",
                "categoría",
                "categoria",
                "familia",
                "productgroep",
            ),
        ),
        Field(
            "brand",
            TEXT,
            False,
            ("brand", "brand name", "make", "品牌", "marke", "hersteller", "marque", "marca", "merk"),
        ),
        Field(
            "price",
            FLOAT,
            False,
            (
                *("price", "unit price", "list price", "selling price", "retail price", "价格", "单价", "售价"),
                *("零售价", "preis", "verkaufspreis", "vk preis", "einzelpreis", "prix", "prix de vente"),
                *("prix unitaire", "precio", "precio unitario", "pvp", "prezzo", "prijs", "verkoopprijs"),
            ),
            min_value=0,
        ),
        Field(
            "unit_cost",
            FLOAT,
            False,
            (
                *("unit cost", "unit_cost", "cost", "cost price", "cogs", "成本", "进价", "单位成本", "采购价"),
                *("einkaufspreis", "ek preis", "prix d'achat", "coût", "coste", "precio de coste", "costo"),
                "inkoopprijs",
            ),
            min_value=0,
        ),
        Field(
            "launch_date",
            DATE,
            False,
            (
                "launch date",
                "launch_date",
                "release date",
                "first available",
                "created",
                "上市日期",
                "上架时间",
                "上架日期",
                "发布日期",
                "erscheinungsdatum",
                "einführungsdatum",
                "date de lancement",
                "fecha de lanzamiento",
                "data di lancio",
            ),
        ),
        Field(
            "stage",
            STAGE,
            False,
            ("stage", "lifecycle stage", "life cycle stage", "plc stage", "生命周期", "生命周期阶段", "阶段"),
            doc="your own stage labels: Introduction/Growth/Maturity/Decline, 初期/成长期/成熟期/衰退期 or 0-3",
        ),
    ),
    "one row per product",
    ("product", "catalog", "catalogue", "item", "商品", "产品"),
)

SALES = TableSpec(
    "sales",
    (
        _PRODUCT_ID,
        _date("date", True),
        Field(
            "units",
            FLOAT,
            True,
            (
                "units",
                "units sold",
                "quantity sold",
                "qty sold",
                "sales units",
                "sales qty",
                "quantity",
                "qty",
                "volume",
                "销量",
                "销售数量",
                "销售量",
                "件数",
                "数量",
                "menge",
                "anzahl",
                "verkaufte menge",
                "quantité",
                "cantidad",
                "quantità",
                "aantal",
            ),
            min_value=0,
        ),
        Field(
            "revenue",
            FLOAT,
            False,
            (
                "revenue",
                "sales amount",
                "sales",
                "gmv",
                "turnover",
                "net sales",
                "销售额",
                "金额",
                "成交金额",
                "营业额",
                "umsatz",
                "chiffre d'affaires",
                "ventas",
                "fatturato",
                "omzet",
            ),
            min_value=0,
        ),
        Field(
            "returns",
            FLOAT,
            False,
            ("returns", "returned units", "return qty", "refunds", "退货", "退货数量", "退货量", "退款件数"),
            min_value=0,
        ),
        Field(
            "views",
            FLOAT,
            False,
            (
                "views",
                "page views",
                "pageviews",
                "visits",
                "sessions",
                "impressions",
                "浏览量",
                "访客数",
                "曝光量",
                "访问量",
            ),
            min_value=0,
        ),
        Field(
            "add_to_cart",
            FLOAT,
            False,
            ("add to cart", "add_to_cart", "adds to cart", "cart adds", "加购", "加购数", "加购件数"),
            min_value=0,
        ),
        Field("orders", FLOAT, False, ("orders", "order count", "订单数", "订单量", "支付订单数"), min_value=0),
        Field("title", TEXT, False, _SHOP_TITLES),
        Field("category", TEXT, False, _SHOP_CATEGORIES),
    ),
    "units per product and date, at any granularity (aggregated to periods)",
    ("sale", "sales", "weekly", "daily", "销售", "销量"),
)

TRANSACTIONS = TableSpec(
    "transactions",
    (
        _PRODUCT_ID,
        Field(
            "timestamp",
            DATE,
            True,
            (
                "timestamp",
                "invoicedate",
                "invoice date",
                "order date",
                "order time",
                "datetime",
                "date",
                "created at",
                "下单时间",
                "订单时间",
                "支付时间",
                "日期",
                "时间",
                "datum",
                "bestelldatum",
                "rechnungsdatum",
                "fecha",
                "date de commande",
            ),
        ),
        Field(
            "quantity",
            FLOAT,
            True,
            (
                "quantity",
                "qty",
                "units",
                "count",
                "数量",
                "购买数量",
                "件数",
                "menge",
                "anzahl",
                "quantité",
                "cantidad",
                "quantità",
                "aantal",
            ),
        ),
        Field(
            "invoice_id",
            ID,
            False,
            (
                "invoice",
                "invoice no",
                "invoice number",
                "invoiceno",
                "invoice id",
                "order id",
                "order",
                "order number",
                "receipt",
                "订单号",
                "订单编号",
                "单号",
                "发票号",
                "rechnungsnummer",
                "bestellnummer",
                "belegnummer",
                "beleg",
                "numéro de commande",
                "facture",
                "número de pedido",
                "factura",
            ),
        ),
        Field(
            "customer_id",
            ID,
            False,
            (
                "customer id",
                "customerid",
                "customer",
                "customer number",
                "client id",
                "user id",
                "member id",
                "buyer id",
                "客户编号",
                "客户id",
                "会员id",
                "用户id",
                "买家id",
            ),
        ),
        Field(
            "price",
            FLOAT,
            False,
            (
                "price",
                "unit price",
                "unitprice",
                "单价",
                "价格",
                "成交价",
                "preis",
                "einzelpreis",
                "prix",
                "prix unitaire",
                "precio",
                "prezzo",
                "prijs",
            ),
        ),
        Field(
            "description",
            TEXT,
            False,
            (
                "description",
                "product name",
                "title",
                "item name",
                "商品名称",
                "品名",
                "描述",
                "bezeichnung",
                "artikelbezeichnung",
                "désignation",
                "descripción",
                "descrizione",
                "omschrijving",
                *PRODUCT_WORDS,
            ),
        ),
        Field("country", TEXT, False, ("country", "region", "market", "国家", "地区", "land", "pays", "país", "paese")),
        Field("category", TEXT, False, _SHOP_CATEGORIES),
    ),
    "invoice lines; cancellations are returns, non-product lines are excluded",
    ("transaction", "invoice", "order", "retail", "lines", "订单", "交易", "明细"),
)

REVIEWS = TableSpec(
    "reviews",
    (
        _PRODUCT_ID,
        _date("date", True, ("review date", "评论时间", "评价时间")),
        Field(
            "text",
            TEXT,
            True,
            (
                "text",
                "review",
                "review text",
                "comment",
                "comments",
                "body",
                "content",
                "feedback",
                "评论",
                "评价",
                "评论内容",
                "评价内容",
                "内容",
            ),
        ),
        Field(
            "rating",
            FLOAT,
            False,
            ("rating", "stars", "score", "star rating", "评分", "星级", "打分"),
            min_value=1,
            max_value=5,
        ),
    ),
    "customer reviews; personal data in the text is masked before storage",
    ("review", "comment", "feedback", "评论", "评价"),
)

SEARCH_TERMS = TableSpec(
    "search_terms",
    (
        _PRODUCT_ID,
        _date("date", True),
        Field(
            "query",
            TEXT,
            True,
            ("query", "search term", "search query", "keyword", "keywords", "term", "搜索词", "关键词", "搜索关键词"),
        ),
        Field("clicks", FLOAT, False, ("clicks", "click", "点击", "点击量", "点击数"), min_value=0),
        Field(
            "impressions",
            FLOAT,
            False,
            ("impressions", "impr", "views", "曝光", "展现", "展现量", "曝光量"),
            min_value=0,
        ),
    ),
    "search terms that led shoppers to a product",
    ("search", "query", "keyword", "搜索", "关键词"),
)

INVENTORY = TableSpec(
    "inventory",
    (
        _PRODUCT_ID,
        Field(
            "on_hand",
            FLOAT,
            True,
            (
                "on hand",
                "on_hand",
                "stock",
                "stock on hand",
                "inventory",
                "available",
                "qty on hand",
                "库存",
                "现有库存",
                "可用库存",
                "库存数量",
                "在库",
            ),
            min_value=0,
        ),
        Field(
            "on_order",
            FLOAT,
            False,
            ("on order", "on_order", "incoming", "open po", "在途", "在途库存", "采购在途"),
            min_value=0,
        ),
        Field(
            "lead_time_days",
            FLOAT,
            False,
            ("lead time", "lead_time_days", "lead time days", "leadtime", "交货期", "补货周期", "采购周期"),
            min_value=0,
            max_value=3650,
        ),
        Field("unit_cost", FLOAT, False, ("unit cost", "unit_cost", "cost", "成本", "进价", "采购价"), min_value=0),
        Field(
            "min_order_qty",
            FLOAT,
            False,
            ("min order qty", "min_order_qty", "moq", "minimum order", "最小起订量", "起订量"),
            min_value=0,
        ),
    ),
    "stock levels, one row per product",
    ("inventory", "stock", "库存"),
)

# Japanese, Korean and Traditional Chinese column names (Rakuten, Yahoo! Shopping, BASE, Coupang, Naver
# Smart Store and Shopee Taiwan exports, and shops' own spreadsheets), per field, in every table that has
# it. Kept apart so the lists above stay readable; matching normalises case and width as for the others.
# fmt: off
_DATE_WORDS = ("日付", "日時", "注文日", "注文日時", "売上日", "受注日", "購入日", "年月", "날짜", "일자", "주문일",
               "주문일시", "판매일", "결제일", "訂單日期", "銷售日期")
_EAST_ASIAN: dict[str, dict[str, tuple[str, ...]]] = {
    "*": {
        "product_id": ("商品コード", "商品番号", "商品管理番号", "品番", "型番", "janコード", "商品id", "상품코드",
                       "상품번호", "상품id", "품번", "모델번호", "商品編號", "商品代號", "貨號", "料號"),
        "title": ("商品名", "商品タイトル", "상품명", "제품명", "商品名稱", "品名"),
        "description": ("商品説明", "説明", "説明文", "詳細", "商品詳細", "상품설명", "설명", "상세설명", "商品說明", "商品描述"),
        "category": ("カテゴリ", "カテゴリー", "カテゴリ名", "ジャンル", "分類", "카테고리", "분류", "類別", "商品類別"),
        "brand": ("ブランド", "メーカー", "브랜드", "제조사", "品牌"),
        "unit_cost": ("原価", "仕入価格", "仕入単価", "원가", "매입가", "進價", "成本價"),
        "country": ("国", "国名", "配送先国", "국가", "國家"),
    },
    "products": {
        "price": ("価格", "販売価格", "税込価格", "売価", "가격", "판매가", "價格", "售價"),
        "launch_date": ("発売日", "販売開始日", "登録日", "출시일", "등록일", "上市日期", "上架日期"),
    },
    "sales": {
        "date": _DATE_WORDS,
        "units": ("数量", "個数", "販売数", "販売数量", "売上数", "売上個数", "수량", "판매수량", "판매량", "數量", "銷量", "銷售數量"),
        "revenue": ("売上", "売上金額", "売上高", "販売金額", "매출", "매출액", "판매금액", "銷售額", "營業額", "銷售金額"),
        "returns": ("返品", "返品数", "반품", "반품수량", "退貨", "退貨數量"),
        "orders": ("注文数", "注文件数", "受注数", "주문수", "주문건수", "訂單數"),
        "views": ("閲覧数", "アクセス数", "ページビュー", "조회수", "瀏覽量", "瀏覽數"),
        "add_to_cart": ("カート追加数", "장바구니", "장바구니수", "加入購物車"),
    },
    "transactions": {
        "timestamp": _DATE_WORDS,
        "quantity": ("数量", "個数", "購入数", "注文数量", "수량", "주문수량", "구매수량", "數量", "購買數量"),
        "invoice_id": ("注文番号", "受注番号", "注文id", "オーダー番号", "주문번호", "주문id", "訂單編號", "訂單號碼",
                       "n° de commande", "n° commande", "no de commande", "numero de commande", "nº de pedido",
                       "n° ordine", "bestelnummer"),
        "customer_id": ("顧客id", "顧客番号", "会員id", "会員番号", "購入者id", "고객id", "고객번호", "회원id", "客戶編號", "會員編號"),
        "price": ("単価", "販売単価", "商品単価", "価格", "단가", "판매단가", "가격", "單價", "價格"),
    },
    "reviews": {
        "date": (*_DATE_WORDS, "投稿日", "投稿日時", "レビュー日", "작성일", "리뷰작성일", "評論日期"),
        "text": ("レビュー", "レビュー本文", "レビュー内容", "口コミ", "コメント", "本文", "리뷰", "리뷰내용", "후기", "評論", "評價內容"),
        "rating": ("評価", "星評価", "評点", "レビュー評価", "평점", "별점", "評分", "星等"),
    },
    "search_terms": {
        "date": _DATE_WORDS,
        "query": ("検索キーワード", "キーワード", "検索語", "검색어", "키워드", "搜尋關鍵字", "關鍵字"),
        "clicks": ("クリック数", "클릭수", "點擊數"),
        "impressions": ("表示回数", "インプレッション数", "노출수", "曝光數"),
    },
    "inventory": {
        "on_hand": ("在庫", "在庫数", "在庫数量", "재고", "재고수량", "庫存", "庫存數量"),
        "on_order": ("発注済数", "入荷予定数", "발주수량", "在途數量"),
        "lead_time_days": ("リードタイム", "納期日数", "리드타임"),
        "min_order_qty": ("最小発注数", "最低発注数量", "최소주문수량", "最低訂購量"),
    },
}

# fmt: on


def _with_more_names(spec: TableSpec) -> TableSpec:
    more = _EAST_ASIAN["*"] | _EAST_ASIAN.get(spec.name, {})
    fields = tuple(
        replace(f, synonyms=f.synonyms + tuple(w for w in more.get(f.name, ()) if w not in f.synonyms))
        for f in spec.fields
    )
    return replace(spec, fields=fields)


PRODUCTS, SALES, TRANSACTIONS, REVIEWS, SEARCH_TERMS, INVENTORY = (
    _with_more_names(t) for t in (PRODUCTS, SALES, TRANSACTIONS, REVIEWS, SEARCH_TERMS, INVENTORY)
)
TABLES: dict[str, TableSpec] = {t.name: t for t in (PRODUCTS, SALES, TRANSACTIONS, REVIEWS, SEARCH_TERMS, INVENTORY)}

# Fields of non-product tables that describe the product itself; lifted into the products table
# (most frequent value per product) when no products file is given.
PRODUCT_LEVEL_FIELDS = ("title", "description", "category")
