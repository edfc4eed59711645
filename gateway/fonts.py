"""Debian's CJK font files, for what the gateway draws with Chinese text itself: the charts
(`gateway.console.plots`, for a font installed after matplotlib built its font cache) and
the fax pages a drill draws (`gateway.channels.smtp.drill`). Package fonts-noto-cjk, else
fonts-wqy-zenhei."""

CJK_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
