"""Every private session-state key of the lab, named once (a leading underscore keeps them out of the address)."""

# The sidebar and the page switch (ui/sidebar.py, ui/streamlit_compat.py, ui/charts.py)
LAST_CONFIG = "_last_config"            # the config of the previous run, restored on a page switch
LAST_PAGE = "_last_page"                # the title of the page of the previous run
THIS_PAGE = "_this_page"                # the title of the page of this run (set by ui.sidebar.page_setup)
URL_CHECKED = "_url_checked"            # the sidebar's URL has been read once in this session
URL_NOTICES = "_url_notices"            # the notices of the sidebar's URL check
PRESET_LOADED = "_preset_loaded"        # the key of the preset loaded last, shown once as a flash
TEACHER_QUERY = "_teacher_query"        # the teacher link's parameters, carried across pages
TEACHER_LINK = "_teacher_link"          # the TeacherLink of this session (set by the sidebar)
SHARE_HIDE = "_share_hide"              # the share panel: controls to hide in the link
SHARE_SIDEBAR = "_share_sidebar"        # the share panel: hide the whole sidebar
SHARE_PAGES = "_share_pages"            # the share panel: the pages the link lists
SHARE_PROJECTOR = "_share_projector"    # the share panel: projector mode

# The Lesson (ui/lesson.py, ui/rooms/page.py)
LESSON_STEP = "_lesson_step"            # the step shown last (restored after a page switch)
LESSON_TRIED = "_lesson_tried"          # the key of the step whose "Try this" was pressed last
LESSON_REVEALED = "_lesson_revealed"    # the set of step keys whose answer is shown

# Classrooms (ui/rooms/page.py)
ROOM_SEAT = "_room_seat"                # this session's Seat in a room
ROOM_SID = "_room_sid"                  # this session's anonymous id in the rooms' store
ROOM_PENDING = "_room_pending"          # a teacher's view to apply on arriving at its page
ROOM_NOTICE = "_room_notice"            # a sentence about the room to show once

# Uploads (ui/uploads.py)
OWN_DATA = "_own_data"                  # {"weights": OwnWeights, "inputs": OwnInputs, "text": OwnText}
OWN_ERRORS = "_own_errors"              # {kind: sentence}: why the last upload of a kind was refused
OWN_SEEN = "_own_seen"                  # {kind: digest}: the uploads already read
OWN_GEN = "_own_gen"                    # uploader key generation: bumping it empties the uploader

# Exports (ui/export.py)
EXPORT_GIF = "_export_gif"              # {page: (key, bytes, seconds)}

# The Train page (ui/train_settings.py, ui/training.py, ui/train_lab.py, pages/7_Train.py)
TR_URL_CHECKED = "_tr_url_checked"      # the Train page's link has been checked once in this session
TR_URL_NOTICES = "_tr_url_notices"      # the notices of that check
TRAIN_LAB = "_train_lab"                # the Lab (the run and the race of this session)
TR_INTERRUPTED = "_tr_interrupted"      # the run of this session was lost (a server restart)
TR_THROTTLE = "_tr_throttle"            # {chart: (time, figure)}: the secondary charts while a run computes
TR_VIEW_CACHE = "_tr_view_cache"        # the task views of the evaluation on screen (cost a forward pass)

# The Phase diagram (ui/phase.py)
PH_URL_CHECKED = "_ph_url_checked"      # the Phase diagram's link has been checked once in this session
PH_URL_NOTICES = "_ph_url_notices"      # the notices of that check
