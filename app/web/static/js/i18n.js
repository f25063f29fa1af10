// Labels: Chinese first (the seats' and supervisors' language), English secondary.
import { h } from './dom.js';

export const LABELS = {
  app: ['12345 ⇄ 110 联动平台', '12345–110 linkage'],
  dashboard: ['实时监控', 'Live dashboard'],
  seatView: ['坐席工作台', 'Seat desk'],
  admin: ['系统管理', 'Admin'],
  login: ['登录', 'Sign in'],
  logout: ['退出', 'Sign out'],
  token: ['访问令牌', 'API token'],
  tokenHint: ['由管理员用 “hotline token create” 或令牌管理页生成', 'from an admin: `hotline token create` or the tokens page'],
  centre: ['中心', 'Centre'],
  seats: ['坐席', 'Seats'],
  seat: ['坐席', 'Seat'],
  waiting: ['排队', 'Waiting'],
  longestWait: ['最长等待', 'Longest wait'],
  channels: ['通话线路', 'Channels'],
  queueWaiting: ['排队来电', 'Calls waiting'],
  noneWaiting: ['无排队来电', 'No one waiting'],
  handoffs: ['最新转接', 'Latest handoffs'],
  noHandoffs: ['暂无转接', 'No handoffs yet'],
  overdue: ['超时督办', 'Overdue (supervision)'],
  noOverdue: ['无超时工单', 'Nothing overdue'],
  surge: ['远程座席', 'Remote seats'],
  surgeOn: ['话务激增 · 已启用远程座席', 'Surge · remote seats open'],
  surgeOff: ['话务正常', 'Normal'],
  surgeUnknown: ['未配置', 'Not configured'],
  ami: ['AMI 链路', 'AMI link'],
  amiUp: ['正常', 'up'],
  links: ['平台互联', 'Peer platforms'],
  linkPeer: ['对端平台', 'Peer'],
  linkTrunk: ['中继状态', 'Trunk'],
  linkQueue: ['待推送', 'Queued'],
  linkFailed: ['推送失败', 'Failed'],
  linkOldest: ['最早未送达', 'Oldest unsent'],
  linkError: ['最近错误', 'Last error'],
  linkOk: ['正常', 'OK'],
  linkBad: ['异常', 'Attention'],
  noTrunk: ['未配置中继', 'no trunk'],
  amiDown: ['中断', 'down'],
  streamLive: ['实时', 'Live'],
  streamDown: ['重连中…', 'Reconnecting…'],
  citizen: ['来电号码', 'Citizen number'],
  order: ['工单', 'Work order'],
  orderNumber: ['工单编号', 'Order number'],
  direction: ['方向', 'Direction'],
  mode: ['方式', 'Mode'],
  status: ['状态', 'Status'],
  outcome: ['结果', 'Outcome'],
  time: ['时间', 'Time'],
  wait: ['等待', 'Wait'],
  category: ['分类', 'Category'],
  seatsPath: ['坐席（转出 → 接听）', 'Seats (from → to)'],
  handlingUnit: ['承办单位', 'Handling unit'],
  target: ['去向', 'Destination'],
  refused: ['未能转接', 'Transfer refused'],
  note: ['备注', 'Note'],
  class: ['等级', 'Class'],
  breach: ['超时项', 'Breach'],
  due: ['时限', 'Due'],
  currentCall: ['当前通话', 'Current call'],
  noCall: ['当前无通话', 'No call'],
  withOrder: ['随路工单', 'Order with this call'],
  noOrder: ['本通话无转接工单', 'No handoff order on this call'],
  actions: ['操作', 'Actions'],
  transfer: ['转接', 'Transfer'],
  transferTo: ['一键转接至', 'Transfer to'],
  transferGo: ['一键转接', 'Transfer now'],
  divert: ['分流查询（市民怎么说就怎么输）', 'Where does it go? (type what the citizen says)'],
  divertPlaceholder: ['如：下水道堵了、房东不退押金、有人晕倒了', 'e.g. the drain is blocked, someone fainted'],
  divertKeys: ['↑↓ 选择，回车填入转接单，Esc 关闭', '↑↓ to move, Enter fills the transfer form, Esc closes'],
  divertChosen: ['已填入', 'Filled in'],
  divertGuide: ['非热线去向，引导市民联系：', 'not a line to transfer to; guide the citizen to: '],
  divertNone: ['没有找到匹配的事项', 'Nothing in the catalogue matches'],
  divertClosest: ['最接近的类别', 'closest groups'],
  matchedBy: ['匹配', 'matched'],
  otherDestination: ['其他去向（如 120、12315）', 'Other destination (e.g. 120, 12315)'],
  transferred: ['已发起转接，等待对方坐席接听', 'Transfer started; waiting for a seat to answer'],
  threeWay: ['三方通话', 'Three-way call'],
  threeWayGo: ['三方通话', 'Three-way'],
  threeWayHint: ['邀请对方中心坐席加入，对方看到市民号码', 'the other centre joins, seeing the citizen\'s number'],
  threeWayEmergencyGo: ['紧急三方通话', 'Three-way · emergency'],
  threeWayEmergencyHint: ['危及生命财产：110 先行处置', 'life or property at risk: 110 dispatches first'],
  threeWayStarted: ['已发起三方通话，等待对方坐席接听', 'Three-way started; waiting for the other centre'],
  threeWayLeave: ['退出并移交', 'Leave & hand over'],
  threeWayLeaveHint: ['本坐席退出，由留下的坐席受理', 'this seat leaves; the seat that stays accepts'],
  threeWayLeft: ['已退出并移交', 'Left; handed over'],
  threeWayCancel: ['取消', 'Cancel'],
  threeWayCancelHint: ['仅发起方：挂断对方坐席，恢复两方通话', 'initiator only: drop the other seat, two-party again'],
  threeWayCancelled: ['已取消三方通话', 'Three-way cancelled'],
  threeWayEmergency: ['紧急', 'Emergency (110 dispatches first)'],
  threeWayEmergencyMarkHint: ['危及生命财产：110 受理并先行处置', 'life or property at risk: 110 accepts, dispatch first'],
  threeWayMarked: ['已标记紧急，110 先行处置', 'Marked emergency; 110 dispatches first'],
  threeWayRefused: ['三方通话操作未执行', 'Three-way refused'],
  participants: ['在线方', 'Present'],
  chooseSeat: ['选择坐席', 'Choose a seat'],
  noAmi: ['本服务无 AMI 连接，无法查询通话', 'This service has no AMI link'],
  presence: ['签入 / 示忙', 'Sign-in and pause'],
  signIn: ['签入', 'Sign in'],
  signOut: ['签出', 'Sign out'],
  pauseGo: ['示忙', 'Pause'],
  pauseChange: ['更改原因', 'Change reason'],
  unpauseGo: ['示闲', 'Resume'],
  pauseReason: ['原因', 'Reason'],
  pauseNoReason: ['示忙（无原因）', 'Busy (no reason)'],
  remoteGroups: ['远程座席组', 'Remote seat groups'],
  thresholds: ['触发阈值', 'Thresholds'],
  catalogue: ['分流目录', 'Diversion catalogue'],
  tokens: ['访问令牌', 'API tokens'],
  search: ['搜索', 'Search'],
  add: ['新增', 'Add'],
  edit: ['编辑', 'Edit'],
  save: ['保存', 'Save'],
  cancel: ['取消', 'Cancel'],
  delete: ['删除', 'Delete'],
  revoke: ['吊销', 'Revoke'],
  create: ['生成', 'Create'],
  saved: ['已保存', 'Saved'],
  name: ['名称', 'Name'],
  role: ['角色', 'Role'],
  created: ['创建时间', 'Created'],
  active: ['有效', 'Active'],
  revoked: ['已吊销', 'Revoked'],
  shownOnce: ['新令牌（仅显示一次，请立即保存）', 'New token (shown once: keep it now)'],
  notAvailable: ['该功能的接口尚未提供', 'This API is not available on this server'],
  forbidden: ['当前角色无权访问', 'Your role may not use this page'],
  loading: ['加载中…', 'Loading…'],
};

export const SEAT_STATES = {
  idle: ['空闲', 'Idle'],
  ringing: ['振铃', 'Ringing'],
  in_call: ['通话中', 'In call'],
  paused: ['示忙', 'Paused'],
  signed_out: ['签出', 'Signed out'],
  unavailable: ['离线', 'Offline'],
  unknown: ['未知', 'Unknown'],
};

// POST /api/seats/{seat}/… answers' `state`
export const PRESENCE = {
  signed_in: ['已签入', 'Signed in'],
  paused: ['已示忙', 'Paused'],
  signed_out: ['已签出', 'Signed out'],
};

export const ORDER_STATUSES = {
  pending: ['待接听', 'Pending'],
  accepted: ['已受理', 'Accepted'],
  dispatched: ['已派单', 'Dispatched'],
  signed: ['已签收', 'Signed for'],
  on_site: ['已到场', 'On site'],
  feedback: ['已反馈', 'Feedback'],
  closed: ['已办结', 'Closed'],
  returned: ['已退单', 'Returned'],
  abandoned: ['市民挂机', 'Abandoned'],
  voided: ['已作废', 'Voided'],
};

export const MODES = {
  transfer: ['一键转接', 'Transfer'],
  three_way: ['三方通话', 'Three-way'],
  overflow: ['远程溢出', 'Overflow'],
  online: ['在线转交', 'Online'],
  inbound: ['来电', 'Inbound'],
};

export const THREEWAY_PHASES = {
  ringing: ['振铃中，市民听等待音乐', 'Ringing; the citizen hears music'],
  joined: ['三方通话中', 'All three talking'],
  ended: ['已结束', 'Ended'],
};

export const THREEWAY_PARTIES = {
  citizen: ['市民', 'citizen'], initiator: ['发起方', 'initiator'], invited: ['受邀方', 'invited'],
};

/** The three-way call's refusal reasons (core.refusals; 409 "reason"). */
export const THREEWAY_REFUSALS = {
  not_initiator: ['仅发起方可取消', 'only the seat that started it may cancel'],
  not_joined: ['对方坐席尚未接入', 'the other seat has not joined yet'],
  decided: ['结果已确定', 'the outcome is already decided'],
  ended: ['三方通话已结束', 'the three-way call has ended'],
  last_seat: ['最后一个坐席不能退出，市民将无人接听', 'the last seat cannot leave the citizen alone'],
  already_three_way: ['该通话已在三方通话中', 'already a three-way call'],
  no_seat_logged_in: ['对方中心无坐席签入', 'no seat of the other centre is logged in'],
  no_citizen: ['当前通话中没有市民', 'no citizen in this call'],
  not_a_seat: ['不是坐席话机', 'not a seat phone'],
  unknown_target: ['没有可邀请的对方中心', 'no other centre to bring in'],
};

export const BREACHES = { sign: ['签收超时', 'Sign-for overdue'], on_site: ['到场超时', 'On-site overdue'] };
export const CLASSES = { general: ['一般', 'General'], urgent: ['紧急', 'Urgent'], major: ['重大', 'Major'] };
export const ROLES = { seat: ['坐席', 'Seat'], supervisor: ['班长', 'Supervisor'], admin: ['管理员', 'Admin'] };
export const QUEUE_KINDS = { public: ['市民来电', 'Citizens'], linkage: ['联动转入', 'Handed over'] };

/** A bilingual label: <span class="zh">坐席</span><span class="en">Seats</span>. */
export function bi(pair, cls = '') {
  const [zh, en] = Array.isArray(pair) ? pair : (LABELS[pair] || [pair, '']);
  return h('span', { class: `bi ${cls}`.trim() }, h('span', { class: 'zh', lang: 'zh-CN' }, zh),
    en ? h('span', { class: 'en', lang: 'en' }, en) : null);
}

/** The same label as plain text, for title attributes and aria labels. */
export function text(pair) {
  const [zh, en] = Array.isArray(pair) ? pair : (LABELS[pair] || [pair, '']);
  return en ? `${zh} ${en}` : zh;
}

/** A pair from one of the tables above, or the raw value when unknown. */
export function label(table, key) {
  return table[key] || [String(key ?? '—'), ''];
}
