"""What an alarm panel's event means to a 110 center, by default, as data.

Sources: the SIA event codes of ANSI/SIA DC-03 (SIA Format, its event-code appendix) and
the Contact ID event codes and qualifiers of SIA DC-05-1999.09 (Ademco Contact ID), read
with pysiaalarm's tables of both (src/pysiaalarm/data/sia_codes.py and adm_mapping.py) as a
cross-check. The Chinese names are what a Chinese alarm-receiving center (报警中心) calls
them; a city overrides any of this in `[channels.dc09.codes]`.

- ``kind``: alarm, restoral, trouble, test, openclose, supervision, other.
- ``category`` and ``priority`` (1 红 … 4 蓝): the incident an alarm or trouble makes.
  ``None`` means "not an incident by itself": tests, open/close, bypasses; a restoral keeps
  the category of what it restores (to find its alarm) with no priority.
- An unknown code is kind "other", category "other", priority 3: a person must look at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.channels.dc09.frame import Event


@dataclass(frozen=True, slots=True)
class Meaning:
    kind: str
    category: str | None
    priority: int | None
    name_zh: str


def _alarm(category: str, priority: int, name: str) -> Meaning:
    return Meaning("alarm", category, priority, name)


def _restoral(category: str | None, name: str) -> Meaning:
    return Meaning("restoral", category, None, name)


def _trouble(priority: int, name: str) -> Meaning:
    return Meaning("trouble", "other", priority, name)


def _test(name: str) -> Meaning:
    return Meaning("test", None, None, name)


def _oc(name: str) -> Meaning:
    return Meaning("openclose", None, None, name)


def _other(name: str) -> Meaning:
    return Meaning("other", None, None, name)


CRIMINAL, FIRE, ASSISTANCE, DISASTER, OTHER = "criminal", "fire", "assistance", "disaster", "other"

# A NULL message (DC-09 link test) carries no event; the receiver files it as this.
LINK_TEST = Meaning("supervision", None, None, "链路检测")

# fmt: off
_SIA: dict[str, Meaning] = {
    # Burglary (盗警)
    "BA": _alarm(CRIMINAL, 1, "盗警"),
    "BV": _alarm(CRIMINAL, 1, "盗警（已复核）"),
    "BM": _alarm(CRIMINAL, 1, "盗警（交叉防区确认）"),
    "BG": _alarm(CRIMINAL, 2, "盗警（未复核）"),
    "BH": _restoral(CRIMINAL, "盗警恢复"),
    "BR": _restoral(CRIMINAL, "盗警恢复"),
    "BC": _restoral(CRIMINAL, "盗警取消"),
    "BJ": _restoral(OTHER, "盗警防区故障恢复"),
    "BT": _trouble(3, "盗警防区故障"),
    "BS": _trouble(3, "盗警防区监控异常"),
    "BZ": _trouble(3, "盗警探测器失联"),
    "BD": _trouble(4, "防区摇摆关闭"),
    "BE": _restoral(OTHER, "防区摇摆恢复"),
    "BB": _other("盗警防区旁路"),
    "BU": _other("盗警防区取消旁路"),
    "BX": _test("盗警防区测试"),
    # Hold-up (劫警) and panic (紧急求助)
    "HA": _alarm(CRIMINAL, 1, "劫警（挟持）"),
    "HH": _restoral(CRIMINAL, "劫警恢复"),
    "HR": _restoral(CRIMINAL, "劫警恢复"),
    "HJ": _restoral(OTHER, "劫警防区故障恢复"),
    "HT": _trouble(3, "劫警防区故障"),
    "HS": _trouble(3, "劫警防区监控异常"),
    "HB": _other("劫警防区旁路"),
    "HU": _other("劫警防区取消旁路"),
    "PA": _alarm(CRIMINAL, 1, "紧急求助"),
    "PH": _restoral(CRIMINAL, "紧急求助恢复"),
    "PR": _restoral(CRIMINAL, "紧急求助恢复"),
    "PJ": _restoral(OTHER, "紧急按钮故障恢复"),
    "PT": _trouble(3, "紧急按钮故障"),
    "PS": _trouble(3, "紧急按钮监控异常"),
    "PB": _other("紧急按钮旁路"),
    "PU": _other("紧急按钮取消旁路"),
    "DF": _alarm(CRIMINAL, 2, "门被强行打开"),
    "UA": _alarm(OTHER, 2, "未定义防区报警"),
    "UX": _alarm(OTHER, 2, "未定义报警"),
    "UH": _restoral(OTHER, "未定义防区报警恢复"),
    "UR": _restoral(OTHER, "未定义防区恢复"),
    "UT": _trouble(3, "未定义防区故障"),
    # Fire (火警)
    "FA": _alarm(FIRE, 1, "火警"),
    "FM": _alarm(FIRE, 1, "火警（交叉防区确认）"),
    "FG": _alarm(FIRE, 2, "火警（未复核）"),
    "SA": _alarm(FIRE, 1, "喷淋动作报警"),
    "KA": _alarm(FIRE, 2, "高温报警"),
    "FH": _restoral(FIRE, "火警恢复"),
    "FR": _restoral(FIRE, "火警恢复"),
    "FC": _restoral(FIRE, "火警取消"),
    "FJ": _restoral(OTHER, "消防防区故障恢复"),
    "SH": _restoral(FIRE, "喷淋报警恢复"),
    "SR": _restoral(FIRE, "喷淋报警恢复"),
    "KH": _restoral(FIRE, "高温报警恢复"),
    "KR": _restoral(FIRE, "高温报警恢复"),
    "FT": _trouble(3, "消防防区故障"),
    "FS": _trouble(3, "消防监控异常"),
    "FW": _trouble(3, "消防监控防区故障"),
    "FY": _trouble(3, "火灾探测器失联"),
    "FZ": _trouble(3, "消防监控点失联"),
    "ST": _trouble(3, "喷淋系统故障"),
    "SS": _trouble(3, "喷淋系统监控异常"),
    "KT": _trouble(3, "温感防区故障"),
    "FB": _other("消防防区旁路"),
    "FU": _other("消防防区取消旁路"),
    "FL": _other("火警警铃已消音"),
    "FX": _test("消防防区测试"),
    "FI": _test("消防测试开始"),
    "FK": _test("消防测试结束"),
    # Medical (医疗求助) and emergency (紧急救助)
    "MA": _alarm(ASSISTANCE, 1, "医疗求助"),
    "QA": _alarm(ASSISTANCE, 1, "紧急救助"),
    "MH": _restoral(ASSISTANCE, "医疗求助恢复"),
    "MR": _restoral(ASSISTANCE, "医疗求助恢复"),
    "QH": _restoral(ASSISTANCE, "紧急救助恢复"),
    "QR": _restoral(ASSISTANCE, "紧急救助恢复"),
    "MT": _trouble(3, "医疗求助按钮故障"),
    "QT": _trouble(3, "紧急救助按钮故障"),
    "MB": _other("医疗求助按钮旁路"),
    "NA": Meaning("other", OTHER, 3, "长时间无活动"),
    # Gas, water, freeze (燃气、水浸、低温)
    "GA": _alarm(DISASTER, 1, "燃气泄漏报警"),
    "GH": _restoral(DISASTER, "燃气报警恢复"),
    "GR": _restoral(DISASTER, "燃气报警恢复"),
    "GT": _trouble(3, "燃气探测器故障"),
    "GS": _trouble(3, "燃气探测监控异常"),
    "GB": _other("燃气防区旁路"),
    "GX": _test("燃气防区测试"),
    "WA": _alarm(OTHER, 3, "水浸报警"),
    "WH": _restoral(OTHER, "水浸报警恢复"),
    "WR": _restoral(OTHER, "水浸报警恢复"),
    "WT": _trouble(4, "水浸探测器故障"),
    "ZA": _alarm(OTHER, 3, "低温报警"),
    "ZH": _restoral(OTHER, "低温报警恢复"),
    "ZR": _restoral(OTHER, "低温报警恢复"),
    "ZT": _trouble(4, "温度探测器故障"),
    # Tamper (防拆)
    "TA": _trouble(3, "防拆报警"),
    "TT": _trouble(4, "防拆故障"),
    "TH": _restoral(OTHER, "防拆报警恢复"),
    "TR": _restoral(OTHER, "防拆恢复"),
    "TJ": _restoral(OTHER, "防拆故障恢复"),
    "TB": _other("防拆旁路"),
    "TU": _other("防拆取消旁路"),
    "JA": _trouble(3, "键盘密码试探"),
    "JC": _restoral(OTHER, "键盘密码试探解除"),
    "ES": _trouble(3, "扩展模块防拆"),
    "EJ": _restoral(OTHER, "扩展模块防拆恢复"),
    "XS": _trouble(3, "无线接收机防拆"),
    "XJ": _restoral(OTHER, "无线接收机防拆恢复"),
    # Power and battery (电源、电池)
    "AT": _trouble(4, "交流电断电"),
    "AR": _restoral(OTHER, "交流电恢复"),
    "YT": _trouble(4, "主机电池欠压"),
    "YR": _restoral(OTHER, "主机电池恢复"),
    "YM": _trouble(3, "主机电池缺失"),
    "XT": _trouble(4, "无线探测器电池欠压"),
    "XR": _restoral(OTHER, "无线探测器电池恢复"),
    "YP": _trouble(4, "电源故障"),
    "YQ": _restoral(OTHER, "电源恢复"),
    "RR": _other("主机上电"),
    # Communication (通讯)
    "YC": _trouble(3, "通讯故障"),
    "YK": _restoral(OTHER, "通讯恢复"),
    "YS": _trouble(3, "通讯异常"),
    "LT": _trouble(4, "电话线故障"),
    "LR": _restoral(OTHER, "电话线恢复"),
    "NT": _trouble(3, "网络故障"),
    "NR": _restoral(OTHER, "网络恢复"),
    "XQ": _trouble(3, "无线干扰"),
    "XH": _restoral(OTHER, "无线干扰解除"),
    "XL": _trouble(4, "无线信号弱"),
    "XX": Meaning("supervision", OTHER, 3, "未收到定时测试"),
    # Equipment (设备)
    "ET": _trouble(4, "扩展模块故障"),
    "ER": _restoral(OTHER, "扩展模块恢复"),
    "EM": _trouble(3, "扩展模块失联"),
    "EN": _restoral(OTHER, "扩展模块重新连接"),
    "IA": _trouble(3, "设备故障"),
    "IR": _restoral(OTHER, "设备故障恢复"),
    "YA": _trouble(4, "警号故障"),
    "YH": _restoral(OTHER, "警号恢复"),
    "YF": _trouble(4, "主机参数校验错误"),
    "YW": _trouble(4, "主机看门狗复位"),
    "YX": _trouble(4, "需要维修"),
    "YZ": _restoral(OTHER, "维修完成"),
    "VO": _trouble(4, "打印机缺纸"),
    "VI": _restoral(OTHER, "打印机已装纸"),
    "VT": _trouble(4, "打印机故障"),
    "VR": _restoral(OTHER, "打印机恢复"),
    "RC": _other("继电器吸合"),
    "RO": _other("继电器释放"),
    "YG": _other("主机参数已修改"),
    "YN": _other("无效报告"),
    "YY": _other("状态报告"),
    # Tests (测试)
    "RP": _test("定时测试"),
    "RX": _test("手动测试"),
    "TX": _test("测试报告"),
    "RY": _test("测试异常"),
    "TS": _test("测试开始"),
    "TE": _test("测试结束"),
    "TC": _test("全部防区已测试"),
    "TP": _test("步测防区"),
    # Open/close (撤防、布防)
    "OP": _oc("撤防"),
    "CL": _oc("布防"),
    "OA": _oc("自动撤防"),
    "CA": _oc("自动布防"),
    "CP": _oc("自动布防"),
    "OQ": _oc("远程撤防"),
    "CQ": _oc("远程布防"),
    "OS": _oc("钥匙开关撤防"),
    "CS": _oc("钥匙开关布防"),
    "OR": _oc("报警后撤防"),
    "CF": _oc("强制布防"),
    "CW": _oc("强制布防（有防区未就绪）"),
    "OG": _oc("部分撤防"),
    "CG": _oc("部分布防"),
    "NL": _oc("留守布防"),
    "NM": _oc("留守布防（自定义）"),
    "NF": _oc("强制留守布防"),
    "OB": _oc("分区自动撤防"),
    "CB": _oc("分区自动布防"),
    "OK": _oc("提前撤防"),
    "OJ": _oc("延迟撤防"),
    "CK": _oc("提前布防"),
    "CJ": _oc("延迟布防"),
    "OI": _oc("未按时撤防"),
    "CI": _oc("未按时布防"),
    "OT": _oc("逾时未布防"),
    "CT": _oc("逾时未撤防"),
    "CD": _oc("长时间未布防"),
    "CE": _oc("延长布防时间"),
    "OZ": _oc("单防区撤防"),
    "CZ": _oc("单防区布防"),
    "OC": _restoral(None, "报警取消"),
    "CR": _other("布防后短时内报警"),
    "CC": _other("布防失败"),
    "EE": _other("退出延时错误"),
    "EA": _alarm(CRIMINAL, 2, "退出延时报警"),
    # Programming (编程)
    "LB": _other("本地编程开始"),
    "LX": _other("本地编程结束"),
    "RB": _other("远程编程开始"),
    "RS": _other("远程编程成功"),
    "RU": _other("远程编程失败"),
}

# Contact ID (DC-05) with qualifier 1 (new event or opening). Qualifier 3 gives the restore
# (derived: kind "restoral", "…恢复") or, for the codes in _CID_3, its own meaning (a closing,
# a bypass removed); qualifier 6 (still present, in a status report) keeps the meaning.
_CID: dict[str, Meaning] = {
    # 1xx alarms
    "100": _alarm(ASSISTANCE, 1, "医疗求助"),
    "101": _alarm(ASSISTANCE, 1, "人身紧急求助"),
    "102": _alarm(ASSISTANCE, 2, "未按时报平安"),
    "110": _alarm(FIRE, 1, "火警"),
    "111": _alarm(FIRE, 1, "烟感火警"),
    "112": _alarm(FIRE, 1, "燃烧火警"),
    "113": _alarm(FIRE, 1, "喷淋水流报警"),
    "114": _alarm(FIRE, 1, "温感火警"),
    "115": _alarm(FIRE, 1, "手动报警按钮火警"),
    "116": _alarm(FIRE, 1, "风管火警"),
    "117": _alarm(FIRE, 1, "火焰火警"),
    "118": _alarm(FIRE, 2, "火警预警"),
    "120": _alarm(CRIMINAL, 1, "紧急求助"),
    "121": _alarm(CRIMINAL, 1, "劫警（挟持）"),
    "122": _alarm(CRIMINAL, 1, "无声紧急报警"),
    "123": _alarm(CRIMINAL, 1, "有声紧急报警"),
    "124": _alarm(CRIMINAL, 1, "挟持（门禁放行）"),
    "125": _alarm(CRIMINAL, 1, "挟持（出门放行）"),
    "130": _alarm(CRIMINAL, 1, "盗警"),
    "131": _alarm(CRIMINAL, 1, "周界盗警"),
    "132": _alarm(CRIMINAL, 1, "室内盗警"),
    "133": _alarm(CRIMINAL, 1, "24小时防区盗警"),
    "134": _alarm(CRIMINAL, 1, "出入口盗警"),
    "135": _alarm(CRIMINAL, 1, "日夜防区盗警"),
    "136": _alarm(CRIMINAL, 1, "室外盗警"),
    "137": _trouble(3, "防拆报警"),
    "138": _alarm(CRIMINAL, 2, "盗警预警"),
    "139": _alarm(CRIMINAL, 1, "入侵确认"),
    "140": _alarm(OTHER, 2, "一般报警"),
    "141": _trouble(3, "总线回路开路"),
    "142": _trouble(3, "总线回路短路"),
    "143": _trouble(3, "扩展模块故障"),
    "144": _trouble(3, "探测器防拆"),
    "145": _trouble(3, "扩展模块防拆"),
    "146": _alarm(CRIMINAL, 1, "无声盗警"),
    "147": _trouble(3, "探测器监控失败"),
    "150": _alarm(OTHER, 2, "24小时辅助防区报警"),
    "151": _alarm(DISASTER, 1, "燃气泄漏报警"),
    "152": _alarm(OTHER, 3, "冷藏温度报警"),
    "153": _alarm(OTHER, 3, "供暖中断报警"),
    "154": _alarm(OTHER, 3, "漏水报警"),
    "155": _alarm(CRIMINAL, 1, "玻璃破碎报警"),
    "156": _trouble(4, "日间防区故障"),
    "157": _trouble(4, "瓶装燃气液位低"),
    "158": _alarm(FIRE, 2, "高温报警"),
    "159": _alarm(OTHER, 3, "低温报警"),
    "161": _trouble(4, "气流中断"),
    "162": _alarm(DISASTER, 1, "一氧化碳报警"),
    "163": _alarm(OTHER, 3, "液位报警"),
    # 2xx fire supervisory
    "200": _trouble(3, "消防监控异常"),
    "201": _trouble(3, "消防水压低"),
    "202": _trouble(3, "二氧化碳压力低"),
    "203": _trouble(3, "闸阀异常"),
    "204": _trouble(3, "消防水位低"),
    "205": _trouble(3, "消防泵启动"),
    "206": _trouble(3, "消防泵故障"),
    # 3xx troubles
    "300": _trouble(3, "系统故障"),
    "301": _trouble(4, "交流电断电"),
    "302": _trouble(4, "主机电池欠压"),
    "303": _trouble(4, "主机存储器校验错误"),
    "304": _trouble(4, "主机程序校验错误"),
    "305": _trouble(4, "主机复位"),
    "306": _other("主机编程已修改"),
    "307": _trouble(3, "主机自检失败"),
    "308": _trouble(3, "主机关机"),
    "309": _trouble(4, "电池测试失败"),
    "310": _trouble(4, "接地故障"),
    "311": _trouble(3, "主机电池缺失"),
    "312": _trouble(4, "电源过流"),
    "313": _other("工程师复位"),
    "320": _trouble(4, "警号/继电器故障"),
    "321": _trouble(4, "警号1故障"),
    "322": _trouble(4, "警号2故障"),
    "323": _trouble(4, "报警继电器故障"),
    "324": _trouble(4, "故障继电器故障"),
    "325": _trouble(4, "反向继电器故障"),
    "330": _trouble(4, "外设故障"),
    "331": _trouble(3, "总线回路开路"),
    "332": _trouble(3, "总线回路短路"),
    "333": _trouble(3, "扩展模块故障"),
    "334": _trouble(3, "中继器故障"),
    "335": _trouble(4, "打印机缺纸"),
    "336": _trouble(4, "打印机故障"),
    "337": _trouble(4, "扩展模块直流电源断电"),
    "338": _trouble(4, "扩展模块电池欠压"),
    "339": _trouble(4, "扩展模块复位"),
    "341": _trouble(3, "扩展模块防拆"),
    "342": _trouble(4, "扩展模块交流断电"),
    "343": _trouble(4, "扩展模块自检失败"),
    "344": _trouble(3, "无线接收机受干扰"),
    "350": _trouble(3, "通讯故障"),
    "351": _trouble(3, "电话线1故障"),
    "352": _trouble(3, "电话线2故障"),
    "353": _trouble(3, "无线发射机故障"),
    "354": _trouble(3, "事件发送失败"),
    "355": _trouble(3, "无线监控丢失"),
    "356": _trouble(3, "中心轮询丢失"),
    "357": _trouble(4, "无线天线驻波异常"),
    "358": _trouble(3, "通讯故障"),  # 358–360: communication, in extended lists (pysiaalarm)
    "359": _trouble(3, "通讯故障"),
    "360": _trouble(3, "通讯故障"),
    "370": _trouble(3, "防护回路故障"),
    "371": _trouble(3, "防护回路开路"),
    "372": _trouble(3, "防护回路短路"),
    "373": _trouble(3, "消防回路故障"),
    "374": _alarm(CRIMINAL, 2, "退出延时报警"),
    "375": _trouble(3, "紧急防区故障"),
    "376": _trouble(3, "劫警防区故障"),
    "377": _trouble(4, "防区摇摆故障"),
    "378": _trouble(4, "交叉防区故障"),
    "380": _trouble(3, "探测器故障"),
    "381": _trouble(3, "无线探测器失联"),
    "382": _trouble(3, "总线探测器失联"),
    "383": _trouble(3, "探测器防拆"),
    "384": _trouble(4, "无线探测器电池欠压"),
    "385": _trouble(4, "烟感灵敏度过高"),
    "386": _trouble(4, "烟感灵敏度过低"),
    "387": _trouble(4, "入侵探测器灵敏度过高"),
    "388": _trouble(4, "入侵探测器灵敏度过低"),
    "389": _trouble(4, "探测器自检失败"),
    "391": _trouble(4, "探测器监视故障"),
    "392": _trouble(4, "漂移补偿错误"),
    "393": _trouble(4, "需要维护"),
    # 4xx open/close (qualifier 1 opening 撤防, 3 closing 布防) and remote access
    "400": _oc("撤防"),
    "401": _oc("用户撤防"),
    "402": _oc("分区撤防"),
    "403": _oc("自动撤防"),
    "404": _oc("逾时撤防"),
    "405": _oc("推迟撤防"),
    "406": _restoral(None, "报警取消"),
    "407": _oc("远程撤防"),
    "408": _oc("快速撤防"),
    "409": _oc("钥匙开关撤防"),
    "411": _other("请求回拨"),
    "412": _other("远程访问成功"),
    "413": _other("远程访问失败"),
    "414": _other("收到关机命令"),
    "415": _other("收到停止拨号命令"),
    "416": _other("上传成功"),
    "421": _other("门禁拒绝"),
    "422": _other("门禁通行"),
    "423": _alarm(CRIMINAL, 2, "门被强行打开"),
    "441": _oc("留守撤防"),
    "442": _oc("钥匙开关留守撤防"),
    "450": _oc("例外撤防"),
    "451": _oc("提前撤防"),
    "452": _oc("延迟撤防"),
    "453": _oc("未按时撤防"),
    "454": _oc("未按时布防"),
    "455": _trouble(4, "自动布防失败"),
    "456": _oc("部分撤防"),
    "457": _other("退出延时错误"),
    "458": _other("用户在场"),
    "459": _other("布防后短时内报警"),
    "461": _trouble(3, "键盘密码试探"),
    "462": _other("密码输入正确"),
    "463": _oc("报警后重新布防"),
    "464": _oc("自动布防时间延长"),
    "466": _other("维保人员进出"),
    # 5xx disables and bypasses
    "520": _other("警号/继电器禁用"),
    "570": _other("防区旁路"),
    "571": _other("消防防区旁路"),
    "572": _other("24小时防区旁路"),
    "573": _other("盗警防区旁路"),
    "574": _other("分组旁路"),
    "575": _other("摇摆旁路"),
    # 6xx tests and miscellaneous
    "601": _test("手动测试"),
    "602": _test("定时测试"),
    "603": _test("无线定时测试"),
    "604": _test("消防测试"),
    "605": _test("状态报告"),
    "606": _other("监听开始"),
    "607": _test("步测模式"),
    "608": _test("定时测试（系统有故障）"),
    "609": _other("视频发射器启动"),
    "611": _test("防区测试正常"),
    "612": _test("防区未测试"),
    "613": _test("盗警防区步测"),
    "614": _test("消防防区步测"),
    "615": _test("紧急防区步测"),
    "616": _other("请求维修"),
    "621": _other("事件记录已清除"),
    "622": _other("事件记录已满50%"),
    "623": _other("事件记录已满90%"),
    "624": _other("事件记录溢出"),
    "625": _other("时间日期已重置"),
    "626": _other("时间日期不准确"),
    "627": _other("进入编程模式"),
    "628": _other("退出编程模式"),
    "630": _other("时间表已修改"),
    "654": Meaning("other", OTHER, 3, "长时间无活动"),
}

# Contact ID qualifier 3 where it is not a restore of the qualifier-1 meaning.
_CID_3: dict[str, Meaning] = {
    "400": _oc("布防"),
    "401": _oc("用户布防"),
    "402": _oc("分区布防"),
    "403": _oc("自动布防"),
    "404": _oc("逾时布防"),
    "405": _oc("推迟布防"),
    "407": _oc("远程布防"),
    "408": _oc("快速布防"),
    "409": _oc("钥匙开关布防"),
    "441": _oc("留守布防"),
    "442": _oc("钥匙开关留守布防"),
    "450": _oc("例外布防"),
    "451": _oc("提前布防"),
    "452": _oc("延迟布防"),
    "456": _oc("部分布防"),
    "520": _other("警号/继电器启用"),
    "570": _other("防区取消旁路"),
    "571": _other("消防防区取消旁路"),
    "572": _other("24小时防区取消旁路"),
    "573": _other("盗警防区取消旁路"),
    "574": _other("分组取消旁路"),
    "575": _other("摇摆取消旁路"),
    "604": _test("消防测试结束"),
    "607": _test("步测模式结束"),
}
# fmt: on

SIA_CODES: Mapping[str, Meaning] = MappingProxyType(_SIA)
CID_CODES: Mapping[str, Meaning] = MappingProxyType(_CID)
CID_RESTORES: Mapping[str, Meaning] = MappingProxyType(_CID_3)

# What the number after a code is, when it is not a zone (DC-03 "concerns"; DC-05: the
# open/close and access codes carry a user number).
SIA_USER_CODES = frozenset(
    "BC CE CF CJ CK CL CP CQ CR DA DB EE JD JH JK JP JS JT JV JX JY JZ OC OH OJ OK OL OP OQ "
    "OR OT RX".split()
)
SIA_AREA_CODES = frozenset(
    "BV CA CB CC CD CG CI CT CW FI FK JA JC JR NB ND NE NF NL NM NO OA OB OG OI".split()
)
CID_USER_CODES = frozenset(
    "121 313 400 401 402 403 404 405 406 407 408 411 412 413 416 421 422 424 425 441 450 451 "
    "452 453 454 456 457 458 459 462 463 464 466".split()
)

_RESTORED_KINDS = ("alarm", "trouble", "supervision")


def meaning(event: Event) -> Meaning:
    """The default meaning of one event (SIA by its two letters; Contact ID by its code and
    qualifier)."""
    if event.protocol == "SIA":
        return SIA_CODES.get(event.code) or Meaning("other", OTHER, 3, f"未知事件 {event.code}")
    base = CID_CODES.get(event.code)
    if base is None:
        return Meaning("other", OTHER, 3, f"未知事件 {event.qualifier or ''}{event.code}")
    if event.qualifier == "R":
        explicit = CID_RESTORES.get(event.code)
        if explicit is not None:
            return explicit
        if base.kind in _RESTORED_KINDS:
            return _restoral(base.category, f"{base.name_zh}恢复")
        return base
    if event.qualifier == "P":
        return replace(base, name_zh=f"{base.name_zh}（状态报告：仍存在）")
    return base
