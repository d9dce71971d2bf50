"""The shipped sample workbook, and writing workbooks from plain rows.

Regenerate the shipped file with:

    python -m correctly_assets.inputs.single.sample correctly_assets/data/sample_workbook.xlsx

The file is byte-for-byte reproducible: timestamps inside it are fixed.
"""

from __future__ import annotations

import argparse
import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment, Font

SAMPLE_WORKBOOK_PATH = Path(__file__).resolve().parents[2] / "data" / "sample_workbook.xlsx"

_FIXED_TIME = datetime(2026, 1, 1)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")

SCRIPT_TYPES = [
    ("diary", "a personal diary entry about the day"),
    ("email", "an email to a friend, a classmate or a colleague"),
    ("dialogue", "a short conversation with another person"),
    ("essay", "a short opinion essay of one paragraph"),
    ("review", "an online review of a place, a product or a service"),
]

SPEAKERS = [
    ("Minji", "a Korean university student with intermediate English"),
    ("Junho", "a Korean office worker who writes English emails at work"),
    ("Seoyeon", "a Korean high school student preparing for an English exam"),
    ("Donghyun", "a retired Korean teacher learning English for travel"),
]

STYLES = [
    ("formal", "polite and careful, as when writing to a teacher or a client"),
    ("casual", "relaxed and friendly, as when writing to a close friend"),
    ("neutral", "plain and clear, neither stiff nor chatty"),
]

THEMES = [
    ("travel", "Travel", "trips, transport, hotels and sightseeing"),
    ("food", "Food", "cooking, eating out and favorite dishes"),
    ("school_life", "School Life", "classes, exams, homework and friends at school"),
    ("work", "Work", "the office, meetings, deadlines and colleagues"),
    ("health", "Health", "exercise, sleep, illness and staying well"),
    ("shopping", "Shopping", "buying things in stores and online, prices and refunds"),
    ("hobbies", "Hobbies", "free time, sports, music and other pastimes"),
    ("family", "Family", "parents, siblings, relatives and family events"),
]

KEY_EXPRESSIONS = [
    ("travel", "check in", "to register at a hotel or an airport on arrival"),
    ("travel", "get around", "to travel from place to place within an area"),
    ("travel", "off the beaten path", "away from the places most tourists visit"),
    ("food", "eat out", "to have a meal at a restaurant instead of at home"),
    ("food", "grab a bite", "to get something quick to eat"),
    ("food", "have a craving for", "to want a particular food very much"),
    ("school_life", "cram for", "to study hard just before an exam"),
    ("school_life", "fall behind", "to fail to keep up with the class or the work"),
    ("school_life", "hand in", "to give finished work to a teacher"),
    ("work", "be running late", "to be later than planned"),
    ("work", "touch base", "to contact someone briefly to see how things are going"),
    ("work", "call it a day", "to stop working for the day"),
    ("health", "work out", "to exercise in order to stay fit"),
    ("health", "come down with", "to start to suffer from an illness, usually a mild one"),
    ("health", "get some rest", "to relax or sleep in order to recover"),
    ("shopping", "on sale", "available at a lower price than usual"),
    ("shopping", "shop around", "to compare prices in different stores before buying"),
    ("shopping", "get a refund", "to get your money back for something you return"),
    ("hobbies", "take up", "to start a new activity or hobby"),
    ("hobbies", "be into", "to be very interested in something"),
    ("hobbies", "unwind", "to relax after a period of work or stress"),
    ("family", "get along with", "to have a friendly relationship with someone"),
    ("family", "take after", "to look or behave like an older relative"),
    ("family", "catch up", "to talk about what has happened since you last met"),
]

INSTRUCTION_PROMPTS = [
    ("diary_entry", "diary",
     'You are {speaker}. Write {script_type} on the theme "{theme}" ({theme_description}) '
     'in a {style} tone, using the expression "{key_expression}" ({meaning}).'),
    ("email_message", "email",
     'You are {speaker}, writing {script_type} on the theme "{theme}": {theme_description}. '
     'Keep the tone {style}, and use the expression "{key_expression}", meaning "{meaning}".'),
    ("dialogue_turn", "dialogue",
     'You are {speaker}. Write your side of {script_type} on the theme "{theme}" '
     '({theme_description}). Sound {style}, and say "{key_expression}" ({meaning}) at some point.'),
    ("online_review", "review",
     'You are {speaker}, writing {script_type} on the theme "{theme}" ({theme_description}). '
     'Write in a {style} register and include the expression "{key_expression}" ({meaning}).'),
]

EXAMPLES = [
    ("travel",
     "We checked in at the hotel around nine and went straight to bed. The room was small, "
     "but it was clean and quiet.",
     "우리는 아홉 시쯤 호텔에 체크인하고 곧장 잠자리에 들었다. 방은 작았지만 깨끗하고 조용했다."),
    ("travel",
     "The easiest way to get around Seoul is by subway. Trains come every few minutes, "
     "and the signs are in English too.",
     "서울에서 돌아다니기 가장 쉬운 방법은 지하철이다. 열차가 몇 분마다 오고, 표지판에도 영어가 함께 적혀 있다."),
    ("travel",
     "Our flight was delayed by three hours, so we missed our connection in Tokyo. "
     "The airline gave us a hotel room for the night.",
     "비행기가 세 시간 지연되는 바람에 도쿄에서 갈아탈 비행기를 놓쳤다. 항공사에서 그날 밤 묵을 호텔 방을 마련해 주었다."),
    ("travel",
     "I like to find small towns off the beaten path instead of visiting famous sights. "
     "The food is cheaper, and the people are friendlier.",
     "나는 유명한 관광지에 가기보다 사람들의 발길이 드문 작은 마을을 찾아다니는 것을 좋아한다. "
     "음식값도 더 싸고 사람들도 더 친절하다."),
    ("travel",
     "Don't forget to bring your passport and a copy of your booking. "
     "You will need both at the front desk.",
     "여권과 예약 확인서 사본을 꼭 챙기세요. 프런트에서 둘 다 필요할 거예요."),
    ("travel",
     "We rented a car for the weekend and drove along the east coast. "
     "The view of the sea at sunrise was worth the early start.",
     "우리는 주말 동안 차를 빌려 동해안을 따라 달렸다. 해 뜰 무렵 바라본 바다는 일찍 일어난 보람이 있을 만큼 멋졌다."),

    ("food",
     "We usually eat out on Fridays because nobody wants to cook after a long week. "
     "Our favorite place is a small noodle shop near the station.",
     "긴 한 주를 보내고 나면 아무도 요리하고 싶어 하지 않아서, 우리는 금요일에 보통 외식을 한다. "
     "우리가 가장 좋아하는 곳은 역 근처에 있는 작은 국숫집이다."),
    ("food",
     "I have a craving for spicy rice cakes, so let's stop by the food stalls on the way home.",
     "매운 떡볶이가 너무 먹고 싶으니까 집에 가는 길에 노점에 들렀다 가자."),
    ("food",
     "My grandmother taught me how to make kimchi when I was ten. "
     "I still use her recipe, although I add a little less salt.",
     "할머니께서는 내가 열 살 때 김치 담그는 법을 가르쳐 주셨다. "
     "지금도 할머니의 방법대로 만들지만, 소금은 조금 덜 넣는다."),
    ("food",
     "We only had twenty minutes for lunch, so we grabbed a bite at the convenience store. "
     "The sandwiches there are surprisingly good.",
     "점심시간이 20분밖에 없어서 우리는 편의점에서 간단히 요기를 했다. 그곳 샌드위치는 생각보다 맛있다."),
    ("food",
     "This restaurant is famous for its grilled fish, "
     "but you have to book a table at least a week in advance.",
     "이 식당은 생선구이로 유명하지만, 적어도 일주일 전에는 자리를 예약해야 한다."),
    ("food",
     "I tried baking bread for the first time last weekend. "
     "It came out flat and a little burnt, but it still tasted fine.",
     "지난 주말에 처음으로 빵을 구워 봤다. 납작하고 조금 탔지만, 맛은 그런대로 괜찮았다."),

    ("school_life",
     "I stayed up all night cramming for my history exam. "
     "I remembered most of the dates, but I could hardly keep my eyes open.",
     "역사 시험 때문에 밤을 새워 벼락치기를 했다. 연도는 대부분 기억났지만, 눈을 뜨고 있기조차 힘들었다."),
    ("school_life",
     "I was sick for a week and fell behind in math. "
     "My friend lent me her notes so that I could catch up.",
     "일주일 동안 아파서 수학 진도를 따라가지 못했다. 친구가 필기한 노트를 빌려준 덕분에 밀린 공부를 따라잡을 수 있었다."),
    ("school_life",
     "We have to hand in our group project by Friday, "
     "but two members have not done their part yet.",
     "금요일까지 조별 과제를 제출해야 하는데, 아직 두 명이 자기 몫을 하지 않았다."),
    ("school_life",
     "Our English teacher always starts class with a short quiz. "
     "Nobody likes it, but it keeps us on our toes.",
     "우리 영어 선생님은 항상 짧은 쪽지 시험으로 수업을 시작하신다. "
     "아무도 좋아하지 않지만, 덕분에 늘 긴장을 늦추지 않게 된다."),
    ("school_life",
     "After school, I usually go to the library with my classmates. "
     "We study there until it closes at ten.",
     "방과 후에 나는 보통 반 친구들과 도서관에 간다. 우리는 도서관이 문을 닫는 열 시까지 그곳에서 공부한다."),
    ("school_life",
     "The school festival is next month, and our class is going to run a small cafe. "
     "I volunteered to make the posters.",
     "다음 달에 학교 축제가 있는데, 우리 반은 작은 카페를 운영할 예정이다. 나는 포스터를 만들겠다고 자원했다."),

    ("work",
     "Sorry, I'm running a little late because of the traffic. "
     "Please start the meeting without me, and I'll join in about ten minutes.",
     "죄송해요, 차가 막혀서 조금 늦어지고 있어요. 저 없이 회의를 먼저 시작해 주세요. 10분쯤 뒤에 들어갈게요."),
    ("work",
     "Let's touch base on Thursday to see how the report is going. "
     "If you need more time, just let me know.",
     "보고서가 어떻게 진행되고 있는지 목요일에 잠깐 이야기 나눠요. 시간이 더 필요하면 말씀만 해 주세요."),
    ("work",
     "We finished the presentation slides at seven, so we decided to call it a day. "
     "The rest can wait until tomorrow morning.",
     "일곱 시에 발표 자료를 다 만들어서 오늘은 그만하기로 했다. 나머지는 내일 아침에 해도 된다."),
    ("work",
     "My new manager is strict about deadlines, but she always explains what she expects. "
     "I have learned a lot from her in three months.",
     "새로 온 팀장님은 마감에 엄격하시지만, 무엇을 기대하는지 항상 설명해 주신다. "
     "석 달 동안 그분에게 많은 것을 배웠다."),
    ("work",
     "I work from home on Mondays and Fridays. "
     "It saves me two hours of commuting, but I sometimes miss chatting with my colleagues.",
     "나는 월요일과 금요일에는 재택근무를 한다. 출퇴근하는 두 시간을 아낄 수 있지만, "
     "가끔은 동료들과 수다 떠는 게 그립다."),
    ("work",
     "Could you send me the updated schedule by the end of the day? "
     "I need to share it with the client tomorrow.",
     "오늘 중으로 수정된 일정표를 보내 주시겠어요? 내일 고객사에 공유해야 해서요."),

    ("health",
     "I try to work out three times a week, usually before work. "
     "On busy days, I just go for a walk at lunchtime.",
     "나는 일주일에 세 번 운동하려고 하는데, 주로 출근 전에 한다. 바쁜 날에는 점심시간에 산책만 한다."),
    ("health",
     "I think I'm coming down with a cold. My throat is sore, and I have been sneezing all morning.",
     "감기에 걸리려나 봐. 목이 아프고, 아침 내내 재채기가 나."),
    ("health",
     "The doctor told me to drink plenty of water and get some rest. "
     "She said I should feel better in a few days.",
     "의사 선생님이 물을 많이 마시고 좀 쉬라고 하셨다. 며칠 지나면 나아질 거라고 하셨다."),
    ("health",
     "Since I started going to bed before midnight, I have had much more energy during the day.",
     "자정 전에 잠자리에 들기 시작한 뒤로 낮에 훨씬 더 기운이 난다."),
    ("health",
     "My father has high blood pressure, so he has cut down on salt and coffee. "
     "He also checks his blood pressure every morning.",
     "아버지는 혈압이 높으셔서 소금과 커피를 줄이셨다. 매일 아침 혈압도 재신다."),
    ("health",
     "I hurt my back lifting a heavy box, so I can't play tennis this weekend. "
     "I'll have to watch from the bench instead.",
     "무거운 상자를 들다가 허리를 다쳐서 이번 주말에는 테니스를 칠 수 없다. 대신 벤치에서 구경만 해야겠다."),

    ("shopping",
     "These winter jackets are on sale for half price this week. I bought one for my brother as well.",
     "이번 주에 이 겨울 재킷들을 반값에 세일하고 있다. 나는 남동생 것도 하나 샀다."),
    ("shopping",
     "It's worth shopping around before you buy a new laptop. "
     "The same model can cost a hundred dollars more in some stores.",
     "새 노트북을 사기 전에는 여러 가게를 둘러보며 가격을 비교해 볼 만하다. "
     "같은 모델이라도 어떤 매장에서는 100달러나 더 비쌀 수 있다."),
    ("shopping",
     "The shoes I ordered online were too small, so I sent them back. "
     "I got a refund within three days.",
     "인터넷으로 주문한 신발이 너무 작아서 반품했다. 사흘 만에 환불을 받았다."),
    ("shopping",
     "I went to the market to buy vegetables, "
     "but I came home with a new coffee mug and no vegetables.",
     "채소를 사러 시장에 갔는데, 채소는 하나도 못 사고 새 커피 머그잔만 들고 집에 왔다."),
    ("shopping",
     "Excuse me, do you have this shirt in a larger size? "
     "The medium is a little tight around the shoulders.",
     "실례합니다, 이 셔츠 더 큰 사이즈도 있나요? 미디엄은 어깨가 조금 끼네요."),
    ("shopping",
     "I always make a shopping list before I go to the supermarket. "
     "Otherwise, I end up buying snacks I don't need.",
     "나는 마트에 가기 전에 항상 장 볼 목록을 적는다. 그러지 않으면 필요 없는 과자까지 사게 된다."),

    ("hobbies",
     "I took up the guitar last year, and now I can play about ten songs. "
     "My fingers hurt at first, but I got used to it.",
     "작년에 기타를 배우기 시작해서 이제는 열 곡 정도 칠 수 있다. 처음에는 손가락이 아팠지만 곧 익숙해졌다."),
    ("hobbies",
     "My sister is really into baking these days. "
     "Every weekend, she tries a new recipe and makes us taste it.",
     "여동생은 요즘 베이킹에 푹 빠져 있다. 주말마다 새로운 레시피에 도전해서 우리에게 맛보라고 한다."),
    ("hobbies",
     "After a long day, I like to unwind by doing a jigsaw puzzle. "
     "It helps me stop thinking about work.",
     "힘든 하루를 보내고 나면 나는 직소 퍼즐을 맞추며 긴장을 푸는 것을 좋아한다. "
     "퍼즐을 맞추다 보면 일 생각을 잊을 수 있다."),
    ("hobbies",
     "We go hiking in the mountains near the city almost every Sunday. "
     "The trail is steep, but the view from the top is amazing.",
     "우리는 거의 매주 일요일마다 도시 근처 산으로 등산을 간다. 등산로는 가파르지만 정상에서 보는 경치는 정말 멋지다."),
    ("hobbies",
     "I have been learning to draw from online videos. "
     "I'm not very good yet, but I enjoy it more than I expected.",
     "온라인 영상을 보면서 그림 그리는 법을 배우고 있다. 아직 잘 그리지는 못하지만 생각했던 것보다 훨씬 재미있다."),
    ("hobbies",
     "My friends and I play badminton in the park on weekday evenings. "
     "Whoever loses buys drinks afterward.",
     "친구들과 나는 평일 저녁마다 공원에서 배드민턴을 친다. 진 사람이 끝나고 음료수를 산다."),

    ("family",
     "I get along with my younger brother much better now that we don't share a room.",
     "남동생과 방을 따로 쓰게 된 뒤로 우리는 훨씬 더 사이좋게 지낸다."),
    ("family",
     "People often say I take after my mother. "
     "We have the same smile, and we both talk too fast when we are nervous.",
     "사람들은 내가 엄마를 닮았다고 자주 말한다. 우리는 웃는 모습이 똑같고, 긴장하면 둘 다 말이 너무 빨라진다."),
    ("family",
     "My whole family gets together at my grandparents' house for Chuseok. "
     "We make songpyeon and catch up on each other's news.",
     "추석이면 온 가족이 할아버지 할머니 댁에 모인다. 우리는 송편을 빚으며 서로의 근황을 나눈다."),
    ("family",
     "My parents have been married for thirty years, "
     "so we are planning a surprise party for them next month.",
     "부모님이 결혼하신 지 30년이 되어서, 우리는 다음 달에 부모님께 깜짝 파티를 열어 드릴 계획이다."),
    ("family",
     "I call my grandmother every Sunday evening. She always asks whether I am eating well.",
     "나는 매주 일요일 저녁에 할머니께 전화를 드린다. 할머니는 늘 밥은 잘 챙겨 먹는지 물어보신다."),
    ("family",
     "When my cousin got married, I was asked to give a short speech. "
     "I was nervous, but everyone laughed at my jokes.",
     "사촌이 결혼할 때 나는 짧은 축사를 부탁받았다. 긴장했지만 다들 내 농담에 웃어 주었다."),
]


def sample_sheets() -> dict[str, list[list]]:
    """The sample's sheets as rows, the header first; a fresh copy, free to change."""
    return {
        "correction_script_type": [["name", "description"], *map(list, SCRIPT_TYPES)],
        "speaker": [["name", "description"], *map(list, SPEAKERS)],
        "style": [["name", "description"], *map(list, STYLES)],
        "theme": [["name", "title", "description"], *map(list, THEMES)],
        "key_expression": [["theme", "expression", "meaning"], *map(list, KEY_EXPRESSIONS)],
        "instruction_prompt": [["name", "script_type", "template"], *map(list, INSTRUCTION_PROMPTS)],
        "example": [["theme", "text", "korean"], *map(list, EXAMPLES)],
    }


def write_workbook(path: str | Path, sheets: dict[str, list[list]]) -> Path:
    """Write `sheets` (name -> rows, the header first) as an .xlsx file.

    Values are written as given: a string starting with "=" becomes a formula, as in
    Excel, and numbers, booleans and dates keep their type.
    """
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        _make_readable(sheet)
    book.properties.creator = "Correctly"
    book.properties.created = _FIXED_TIME
    buffer = io.BytesIO()
    book.save(buffer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_with_fixed_timestamps(buffer.getvalue()))
    return path


def build_sample_workbook(path: str | Path = SAMPLE_WORKBOOK_PATH) -> Path:
    return write_workbook(path, sample_sheets())


def _make_readable(sheet) -> None:
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for column in sheet.columns:
        longest = max((len(str(cell.value)) for cell in column if cell.value is not None), default=8)
        sheet.column_dimensions[column[0].column_letter].width = min(max(longest + 2, 10), 80)
        for cell in column[1:]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def _with_fixed_timestamps(xlsx: bytes) -> bytes:
    """The same package with its save time and zip entry times fixed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "docProps/core.xml":
                stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME.timetuple()[:6])
            target.writestr(entry, content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the sample workbook.")
    parser.add_argument("path", nargs="?", default=str(SAMPLE_WORKBOOK_PATH),
                        help=f"where to write it (default: {SAMPLE_WORKBOOK_PATH})")
    path = build_sample_workbook(parser.parse_args().path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
